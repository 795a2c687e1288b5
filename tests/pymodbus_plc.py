#!/usr/bin/env python3
"""A goods-to-person station PLC played by pymodbus, an independent Modbus TCP implementation.

It serves the register map Tote's edge uses by default (discrete inputs 0 pod present,
1 confirm button, 2 light curtain clear; holding registers 0 quantity, 1 colour, 2 bin,
3 tower light) and a worker stands at it: when the pick-to-light shows a quantity in green,
she picks for a moment, presses the button and waits for the light to change (pressing
again if it does not).

Usage: pymodbus_plc.py PORT. Prints "READY" once listening and "PRESS qty bin" per press.
"""
import asyncio
import sys

from pymodbus.datastore import ModbusSequentialDataBlock, ModbusServerContext
from pymodbus.server import StartAsyncTcpServer

# tests/run.sh installs pymodbus 3.8: 3.9 renamed the context classes and 3.10+ is moving to
# a different data model (SimDevice) on the way to 4.0.
from pymodbus.datastore import ModbusSlaveContext

DISCRETE, HOLDING = 2, 3  # function codes used to address the tables
POD_PRESENT, CONFIRM, SAFETY_OK = 0, 1, 2
GREEN = 1


async def worker(device):
    def lit():
        qty, colour, bin_, _tower = device.getValues(HOLDING, 0, 4)
        return (qty, bin_) if qty > 0 and colour == GREEN else None

    while True:
        await asyncio.sleep(0.02)
        shown = lit()
        if shown is None:
            continue
        await asyncio.sleep(0.15)  # picking
        if lit() != shown:
            continue
        device.setValues(DISCRETE, CONFIRM, [1])
        print(f"PRESS {shown[0]} {shown[1]}", flush=True)
        await asyncio.sleep(0.1)
        device.setValues(DISCRETE, CONFIRM, [0])
        for _ in range(75):  # up to 1.5 s for the light to move on
            await asyncio.sleep(0.02)
            if lit() != shown:
                break


async def main(port):
    device = ModbusSlaveContext(
        di=ModbusSequentialDataBlock(0, [0] * 64),
        co=ModbusSequentialDataBlock(0, [0] * 64),
        hr=ModbusSequentialDataBlock(0, [0] * 64),
        ir=ModbusSequentialDataBlock(0, [0] * 64),
    )
    device.setValues(DISCRETE, POD_PRESENT, [1])
    device.setValues(DISCRETE, SAFETY_OK, [1])
    context = ModbusServerContext(slaves=device, single=True)
    asyncio.get_running_loop().call_later(0.5, lambda: print("READY", flush=True))
    await asyncio.gather(StartAsyncTcpServer(context=context, address=("127.0.0.1", port)), worker(device))


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1])))
