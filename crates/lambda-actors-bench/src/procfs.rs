//! What the harness reads about a process from `/proc` (no libc: unsafe code is forbidden).

use std::io;

/// CPU time of a process in clock ticks (utime + stime, every thread, dead ones included).
pub fn cpu_ticks(pid: &str) -> io::Result<u64> {
    parse_stat_ticks(&std::fs::read_to_string(format!("/proc/{pid}/stat"))?)
}

/// `utime + stime` from the text of `/proc/<pid>/stat`.
pub fn parse_stat_ticks(stat: &str) -> io::Result<u64> {
    let bad = || io::Error::new(io::ErrorKind::InvalidData, "unreadable /proc/<pid>/stat");
    // The command name (field 2) may hold spaces and parentheses: split after the last ')'.
    let rest = &stat[stat.rfind(')').ok_or_else(bad)? + 1..];
    let fields: Vec<&str> = rest.split_ascii_whitespace().collect();
    // rest starts at field 3 (state); utime is field 14, stime field 15.
    let field = |n: usize| fields.get(n - 3).and_then(|v| v.parse::<u64>().ok()).ok_or_else(bad);
    Ok(field(14)? + field(15)?)
}

/// The processes descended from `pid` (children, grandchildren, …), found by scanning
/// `/proc/*/stat` for parent ids.
pub fn descendants(pid: u32) -> Vec<u32> {
    let mut parents: Vec<(u32, u32)> = Vec::new();
    if let Ok(dir) = std::fs::read_dir("/proc") {
        for entry in dir.flatten() {
            let Some(child) = entry.file_name().to_str().and_then(|n| n.parse::<u32>().ok()) else {
                continue;
            };
            let Ok(stat) = std::fs::read_to_string(format!("/proc/{child}/stat")) else {
                continue;
            };
            if let Some(ppid) = parse_stat_field(&stat, 4) {
                parents.push((child, ppid as u32));
            }
        }
    }
    let mut found = vec![pid];
    let mut i = 0;
    while i < found.len() {
        let parent = found[i];
        found.extend(parents.iter().filter(|(_, p)| *p == parent).map(|(c, _)| *c));
        i += 1;
    }
    found.remove(0);
    found
}

fn parse_stat_field(stat: &str, field: usize) -> Option<u64> {
    let rest = &stat[stat.rfind(')')? + 1..];
    rest.split_ascii_whitespace().nth(field - 3)?.parse().ok()
}

/// Peak resident set size in KiB (`VmHWM` of `/proc/<pid>/status`).
pub fn peak_rss_kib(pid: &str) -> io::Result<u64> {
    parse_status_kib(&std::fs::read_to_string(format!("/proc/{pid}/status"))?, "VmHWM:")
}

/// The value in kB of line `key` of `/proc/<pid>/status`.
pub fn parse_status_kib(status: &str, key: &str) -> io::Result<u64> {
    status
        .lines()
        .find_map(|l| l.strip_prefix(key))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, format!("no {key} in /proc/<pid>/status")))
}

/// Clock ticks per second (`getconf CLK_TCK`; 100, Linux's value, if that cannot run).
pub fn clock_ticks_per_second() -> u64 {
    std::process::Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse().ok())
        .filter(|&t| t > 0)
        .unwrap_or(100)
}

/// The soft limit on open files of this process (children inherit it).
pub fn open_files_limit() -> Option<u64> {
    let limits = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    line["Max open files".len()..].split_whitespace().next()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_utime_plus_stime_past_an_odd_command_name() {
        let stat = "4242 (my (odd) cmd) S 1 4242 4242 0 -1 4194560 120 0 0 0 37 5 0 0 20 0 3 0 100 1000 200";
        assert_eq!(parse_stat_ticks(stat).unwrap(), 42);
        assert!(parse_stat_ticks("garbage").is_err());
    }

    #[test]
    fn reads_vm_hwm() {
        let status = "Name:\thello\nVmPeak:\t  20000 kB\nVmHWM:\t    6144 kB\nVmRSS:\t 6000 kB\n";
        assert_eq!(parse_status_kib(status, "VmHWM:").unwrap(), 6144);
        assert!(parse_status_kib(status, "VmSwap:").is_err());
    }

    #[test]
    fn reads_this_process() {
        let me = std::process::id().to_string();
        assert!(peak_rss_kib(&me).unwrap() > 0);
        cpu_ticks(&me).unwrap();
        assert!(clock_ticks_per_second() > 0);
    }

    #[test]
    fn finds_a_child_process() {
        let mut child = std::process::Command::new("sleep").arg("10").spawn().unwrap();
        let found = descendants(std::process::id());
        let _ = child.kill();
        let _ = child.wait();
        assert!(found.contains(&child.id()), "{found:?}");
    }
}
