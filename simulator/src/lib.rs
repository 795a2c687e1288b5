//! The simulated devices, usable from the `tote-sim` binary and from tests: each speaks the
//! real protocol over a real socket (MQTT for VDA 5050 robots).

pub mod agv;
pub mod printer;
