//! What every bench binary measures besides wall time. The VM is shared, so CPU time (user +
//! system, from Linux's `/proc/<pid>/stat`) is steadier than wall time when other jobs compete
//! for the two cores; it is also how a bench tells its own cost from a server's.

/// User + system CPU seconds of process `pid` so far (`None`: this process); 0 where `/proc`
/// has no answer (another OS, a process that has exited).
pub fn cpu_seconds(pid: Option<u32>) -> f64 {
    let ticks = |fields: &[String], i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    let fields = stat_fields(pid);
    // utime and stime are fields 14 and 15 of the line, 11 and 12 after the command name;
    // 100 clock ticks a second.
    (ticks(&fields, 11) + ticks(&fields, 12)) / 100.0
}

/// The parent of process `pid`, if it is still running.
pub fn parent(pid: u32) -> Option<u32> {
    stat_fields(Some(pid)).get(1)?.parse().ok()
}

/// The fields of `/proc/<pid>/stat` after the command name (which may hold spaces and
/// parentheses, hence the last `)`): the state is the first.
fn stat_fields(pid: Option<u32>) -> Vec<String> {
    let path = match pid {
        Some(pid) => format!("/proc/{pid}/stat"),
        None => "/proc/self/stat".to_owned(),
    };
    let stat = std::fs::read_to_string(path).unwrap_or_default();
    let rest = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    rest.split_whitespace().map(str::to_owned).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_process_uses_cpu_and_has_a_parent() {
        let before = cpu_seconds(None);
        let start = std::time::Instant::now();
        let mut x = 0u64;
        // Spin until the counter shows 0.1 s of CPU (a loaded machine gives this process less
        // than its wall time), within a generous wall-clock bound.
        while cpu_seconds(None) - before < 0.1
            && start.elapsed() < std::time::Duration::from_secs(30)
        {
            for _ in 0..100_000 {
                x = std::hint::black_box(x.wrapping_mul(6364136223846793005).wrapping_add(1));
            }
        }
        assert!(cpu_seconds(None) - before >= 0.1, "{x}");
        assert!(cpu_seconds(Some(std::process::id())) >= cpu_seconds(None) - 0.05);
        assert!(parent(std::process::id()).is_some());
        assert_eq!(cpu_seconds(Some(u32::MAX)), 0.0, "no such process");
    }
}
