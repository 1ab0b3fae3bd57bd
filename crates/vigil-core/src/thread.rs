//! Thread names, as `top -H`, `/proc/PID/task/*/comm` and the logs show them, and thread priorities.

/// `kind:what` (`rec:door/main`, `ana:door`), cut to the 15 bytes Linux keeps of a thread's name (at a
/// character boundary).
pub fn thread_name(kind: &str, what: &str) -> String {
    let mut name = format!("{kind}:{what}");
    if name.len() > 15 {
        let mut end = 15;
        while !name.is_char_boundary(end) {
            end -= 1;
        }
        name.truncate(end);
    }
    name
}

/// Lowers the calling thread's CPU priority to the nice value `nice` (Linux: the nice value is per thread,
/// and the threads it starts afterwards inherit it); elsewhere does nothing.
pub fn lower_priority(nice: i32) -> std::io::Result<()> {
    #[cfg(target_os = "linux")]
    rustix::process::setpriority_process(Some(rustix::thread::gettid()), nice)?;
    #[cfg(not(target_os = "linux"))]
    let _ = nice;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::thread_name;

    #[test]
    fn names_are_cut_to_15_bytes_at_a_character_boundary() {
        assert_eq!(thread_name("ana", "door"), "ana:door");
        assert_eq!(thread_name("rec", "front-entrance/main"), "rec:front-entra");
        assert_eq!(thread_name("ana", "caméra-entrée"), "ana:caméra-ent");
        assert!(thread_name("ana", "ééééééééééé").len() <= 15);
    }
}
