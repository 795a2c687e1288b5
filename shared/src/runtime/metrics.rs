//! Prometheus text exposition, written by hand: the daemons expose a few dozen gauges and
//! counters read straight from their stores, which needs no registry.

use std::fmt::Write;

#[derive(Default)]
pub struct MetricsText {
    out: String,
}

impl MetricsText {
    pub fn gauge(&mut self, name: &str, help: &str, samples: &[(&str, f64)]) -> &mut Self {
        self.family(name, help, "gauge", samples)
    }

    pub fn counter(&mut self, name: &str, help: &str, samples: &[(&str, f64)]) -> &mut Self {
        self.family(name, help, "counter", samples)
    }

    /// `samples` pairs a label set (`warehouse="SH-01"`, or empty) with a value.
    fn family(&mut self, name: &str, help: &str, kind: &str, samples: &[(&str, f64)]) -> &mut Self {
        let _ = writeln!(self.out, "# HELP {name} {help}\n# TYPE {name} {kind}");
        for (labels, value) in samples {
            if labels.is_empty() {
                let _ = writeln!(self.out, "{name} {value}");
            } else {
                let _ = writeln!(self.out, "{name}{{{labels}}} {value}");
            }
        }
        self
    }

    pub fn finish(&mut self) -> String {
        std::mem::take(&mut self.out)
    }
}
