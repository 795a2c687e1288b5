//! The simulated devices, usable from the `tote-sim` binary and from tests: each speaks the
//! real protocol over a real socket (MQTT for VDA 5050 robots, Modbus TCP for station PLCs
//! and Modbus robots, raw TCP for printers, HTTP for the payment channels, the carriers and the tracking
//! aggregator).

pub mod agv;
pub mod browser;
pub mod carrier;
pub mod modbus;
pub mod modbus_agv;
pub mod payment;
pub mod pki;
pub mod plc;
pub mod printer;

/// A child process killed (and reaped) when dropped, whatever happened meanwhile: the browser
/// driver here, peers the tests start.
pub struct KillOnDrop(pub std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
