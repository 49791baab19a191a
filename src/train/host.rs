//! What the host did while a benchmark ran: on a virtual machine the hypervisor may run other
//! guests on the cores this one wants ("steal" time), which slows every figure `pupil bench`
//! prints without any change in pupil. Linux counts it in `/proc/stat`; `pupil bench` reports
//! the share of the run it took, so that two figures taken under different steal are not
//! compared as if they were alike.

/// The machine's CPU time so far, in clock ticks summed over all CPUs (the `cpu` line of
/// `/proc/stat`): the total, and the part stolen by the hypervisor.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CpuTimes {
    /// user + nice + system + idle + iowait + irq + softirq + steal (guest time is already
    /// inside user and nice).
    pub total: u64,
    /// Time this machine's CPUs were ready to run but the hypervisor ran something else.
    pub steal: u64,
}

impl CpuTimes {
    /// Parses the aggregate `cpu` line of a `/proc/stat` text; None if it is missing or has
    /// fewer than the 8 fields up to steal (kernels before 2.6.11).
    pub fn parse(stat: &str) -> Option<CpuTimes> {
        let line = stat.lines().find(|l| l.split_whitespace().next() == Some("cpu"))?;
        let f: Vec<u64> = line.split_whitespace().skip(1).take(8).map(|v| v.parse().ok()).collect::<Option<_>>()?;
        if f.len() < 8 {
            return None;
        }
        Some(CpuTimes { total: f.iter().sum(), steal: f[7] })
    }

    /// The counters now, where the OS has them (Linux); None elsewhere.
    pub fn now() -> Option<CpuTimes> {
        std::fs::read_to_string("/proc/stat").ok().and_then(|s| CpuTimes::parse(&s))
    }

    /// The share of CPU time stolen between `self` and the later sample `later`, in [0, 1];
    /// None when no time was counted in between (or the counters went backwards).
    pub fn steal_share_until(&self, later: &CpuTimes) -> Option<f64> {
        let total = later.total.checked_sub(self.total).filter(|&t| t > 0)?;
        let steal = later.steal.checked_sub(self.steal)?;
        Some((steal as f64 / total as f64).min(1.0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const STAT: &str = "cpu  100 5 50 800 10 1 4 30 7 0\ncpu0 50 2 25 400 5 0 2 15 3 0\nintr 12345\n";

    #[test]
    fn parses_the_aggregate_line() {
        assert_eq!(CpuTimes::parse(STAT), Some(CpuTimes { total: 100 + 5 + 50 + 800 + 10 + 1 + 4 + 30, steal: 30 }));
        // no aggregate line, a short one, a non-number
        assert_eq!(CpuTimes::parse("cpu0 1 2 3 4 5 6 7 8\n"), None);
        assert_eq!(CpuTimes::parse("cpu 1 2 3 4 5 6 7\n"), None);
        assert_eq!(CpuTimes::parse("cpu 1 2 3 x 5 6 7 8\n"), None);
    }

    #[test]
    fn steal_share_between_samples() {
        let a = CpuTimes { total: 1000, steal: 30 };
        let b = CpuTimes { total: 1400, steal: 130 };
        assert_eq!(a.steal_share_until(&b), Some(0.25));
        assert_eq!(a.steal_share_until(&a), None);
        assert_eq!(b.steal_share_until(&a), None);
    }

    /// On Linux the live counters parse and only grow.
    #[test]
    fn live_counters() {
        if let Some(a) = CpuTimes::now() {
            let b = CpuTimes::now().expect("read once, readable again");
            assert!(b.total >= a.total && b.steal >= a.steal && a.steal <= a.total);
        }
    }
}
