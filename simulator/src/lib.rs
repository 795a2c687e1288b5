//! The simulated devices, usable from the `tote-sim` binary and from tests: each speaks the
//! real protocol over a real socket (MQTT for VDA 5050 robots, Modbus TCP for station PLCs
//! and Modbus robots, raw TCP for printers).

pub mod agv;
pub mod browser;
pub mod modbus;
pub mod modbus_agv;
pub mod plc;
pub mod printer;
