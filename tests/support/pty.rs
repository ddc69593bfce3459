//! Running a command on a pseudo-terminal, as a person at a terminal would: each answer is typed
//! only after the program has printed its next prompt (a line ending in ": "), so a program that
//! switches echo off for a secret really hides it.

use std::io::{Read, Write};
use std::os::fd::{FromRawFd, OwnedFd};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Runs `cmd` with a terminal as its standard input, output and error, typing `answers` at its
/// prompts. Returns the exit code and everything the terminal showed.
pub fn run(mut cmd: Command, answers: &[&str], limit: Duration) -> (i32, String) {
    let (mut master_fd, mut slave_fd) = (-1, -1);
    // SAFETY: openpty writes two descriptors into the given integers; the other arguments may be null.
    let rc = unsafe { libc::openpty(&mut master_fd, &mut slave_fd, std::ptr::null_mut(), std::ptr::null(), std::ptr::null()) };
    assert_eq!(rc, 0, "openpty failed: {}", std::io::Error::last_os_error());
    // SAFETY: both descriptors were just returned by openpty and are owned here alone.
    let (master, slave) = unsafe { (OwnedFd::from_raw_fd(master_fd), OwnedFd::from_raw_fd(slave_fd)) };
    cmd.stdin(Stdio::from(slave.try_clone().unwrap())).stdout(Stdio::from(slave.try_clone().unwrap())).stderr(Stdio::from(slave));
    let mut child = cmd.spawn().unwrap();
    // The Command keeps its Stdio (the parent's copies of the slave) until dropped; with them
    // gone, reading the master ends with EIO once the child exits.
    drop(cmd);
    let screen = Arc::new(Mutex::new(String::new()));
    let mut reader = std::fs::File::from(master.try_clone().unwrap());
    let sink = screen.clone();
    let pump = std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        while let Ok(n) = reader.read(&mut buf) {
            if n == 0 {
                break;
            }
            sink.lock().unwrap().push_str(&String::from_utf8_lossy(&buf[..n]));
        }
    });
    let mut writer = std::fs::File::from(master);
    let deadline = Instant::now() + limit;
    let mut seen = 0;
    for answer in answers {
        // Wait for new output that ends in a prompt.
        loop {
            let text = screen.lock().unwrap().clone();
            if text.len() > seen && text.trim_end_matches(' ').ends_with(':') {
                seen = text.len();
                break;
            }
            assert!(Instant::now() < deadline, "no prompt for {answer:?}; the terminal shows:\n{text}");
            if child.try_wait().unwrap().is_some() {
                panic!("the program ended before the answer {answer:?}:\n{text}");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        writer.write_all(format!("{answer}\n").as_bytes()).unwrap();
    }
    let code = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status.code().unwrap_or(-1);
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("the program did not finish; the terminal shows:\n{}", screen.lock().unwrap());
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    drop(writer);
    let _ = pump.join();
    let text = screen.lock().unwrap().clone();
    (code, text)
}
