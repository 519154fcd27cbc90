//! What the kernel says of a process (Linux only; `None` elsewhere): CPU time and peak
//! memory, for the benchmarks and the live engine's figures.
//!
//! In: a process id, or this process. Out: user plus system CPU seconds so far
//! (`/proc/PID/stat`), and peak resident memory in MiB (`/proc/self/status`).

/// User and system CPU seconds of this process so far.
pub fn cpu_seconds() -> Option<f64> {
    cpu_seconds_of("self")
}

/// User and system CPU seconds of process `pid` so far.
pub fn cpu_seconds_of_pid(pid: u32) -> Option<f64> {
    cpu_seconds_of(&pid.to_string())
}

fn cpu_seconds_of(pid: &str) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name (which is in parentheses and may hold spaces):
    // utime and stime are fields 14 and 15, the 12th and 13th after the name.
    let rest = stat.rsplit_once(')')?.1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) / 100.0) // USER_HZ is 100 on Linux
}

/// This process's peak resident memory (VmHWM) in MiB.
pub fn peak_rss_mib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    #[test]
    fn this_process_has_used_some_cpu_and_memory() {
        assert!(super::cpu_seconds().is_some_and(|s| s >= 0.0));
        assert_eq!(
            super::cpu_seconds_of_pid(std::process::id()).is_some(),
            super::cpu_seconds().is_some()
        );
        assert!(super::peak_rss_mib().is_some_and(|m| m > 0.0));
    }
}
