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

    /// A counter of restarts per supervised task, labelled `task="…"`.
    pub fn task_restarts(&mut self, name: &str, counts: &super::supervise::RestartCounts) -> &mut Self {
        let labelled: Vec<(String, f64)> = counts.all().into_iter().map(|(task, n)| (format!("task=\"{}\"", label_value(&task)), n as f64)).collect();
        let samples: Vec<(&str, f64)> = labelled.iter().map(|(l, v)| (l.as_str(), *v)).collect();
        self.counter(name, "Restarts of each supervised task after it returned or panicked", &samples)
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

/// A Prometheus label value: task names carry names from the config (scanners, stations).
pub fn label_value(text: &str) -> String {
    text.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_task_name_with_quotes_backslashes_and_newlines_becomes_a_valid_label_value() {
        assert_eq!(label_value("scanner:dock \"1\"\\a\nb"), "scanner:dock \\\"1\\\"\\\\a\\nb");
        assert_eq!(label_value("sync-push"), "sync-push");
    }
}
