//! Modbus TCP answers from devices we do not own (a station PLC, a robot): after a request,
//! the device sends these bytes and closes. They go through the same client decoder the edge
//! uses (tokio-modbus), then through what the edge does with a PLC's read: the station map's
//! decode. Never a panic and never a hang, whatever the device
//! sends: a wrong transaction id, a short frame, a bad byte count, an exception, trailing junk.
//!
//! The first byte chooses the request (bits 0–2), how many values it asks for (bits 3–6), and
//! whether the answer's transaction id is patched to match the request's (bit 7), so the fuzzer
//! reaches past the id check without having to guess it.
#![no_main]

use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_modbus::client::{Reader, Writer};
use tokio_modbus::Slave;
use tote_shared::station::{RegisterMap, Table};

fn runtime() -> &'static tokio::runtime::Runtime {
    static RT: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RT.get_or_init(|| tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime"))
}

fuzz_target!(|data: &[u8]| {
    let Some((&op, answer)) = data.split_first() else { return };
    let count = u16::from((op >> 3) & 0x0f) + 1;
    let patch_id = op & 0x80 != 0;
    let answer = answer.to_vec();
    runtime().block_on(async move {
        let (client_side, mut device) = tokio::io::duplex(4096);
        let mut ctx = tokio_modbus::client::tcp::attach_slave(client_side, Slave(1));
        let device = async move {
            let mut request = [0u8; 300];
            let n = device.read(&mut request).await.unwrap_or(0);
            let mut reply = answer;
            if patch_id && n >= 2 && reply.len() >= 2 {
                reply[..2].copy_from_slice(&request[..2]);
            }
            let _ = device.write_all(&reply).await;
            // Dropping the device's end is the connection closing: the client sees EOF.
        };
        let request = async {
            let words = match op & 0x07 {
                0 => ctx.read_holding_registers(0, count).await,
                1 => ctx.read_input_registers(0, count).await,
                2 => ctx.read_coils(0, count).await.map(|r| r.map(bits)),
                3 => ctx.read_discrete_inputs(0, count).await.map(|r| r.map(bits)),
                4 => ctx.write_multiple_registers(0, &vec![7; usize::from(count)]).await.map(|r| r.map(|()| Vec::new())),
                5 => ctx.write_single_register(0, 7).await.map(|r| r.map(|()| Vec::new())),
                _ => ctx.write_single_coil(0, true).await.map(|r| r.map(|()| Vec::new())),
            };
            if let Ok(Ok(words)) = words {
                use_as_the_edge_does(op & 0x07, words);
            }
        };
        tokio::join!(request, device);
    });
});

fn bits(bits: Vec<bool>) -> Vec<u16> {
    bits.into_iter().map(u16::from).collect()
}

/// What the edge makes of a read, whatever its length: a station's inputs (the default map
/// reads discrete inputs 0–2).
fn use_as_the_edge_does(kind: u8, words: Vec<u16>) {
    let table = match kind {
        0 => Table::Holding,
        1 => Table::Input,
        2 => Table::Coil,
        _ => Table::Discrete,
    };
    let read_all = words.len() >= 3;
    let inputs = RegisterMap::default().decode(&[(table, 0, words)]);
    if table == Table::Discrete {
        assert_eq!(inputs.is_some(), read_all, "decode must use exactly what was read");
    }
}
