//! Shared helpers of the tests that run the `vnet` program.

#![allow(dead_code, unreachable_pub)]

use std::ffi::OsStr;
use std::io::Write as _;
use std::process::{Command, Stdio};

/// Runs `program ARGS < stdin`, stdin written from a thread (so a large one cannot block on
/// stdout); returns the program's output and whether all of stdin was written (a program may
/// exit, or close its stdin, first).
pub fn run_with_stdin<I, S>(
    program: &str,
    args: I,
    stdin: Vec<u8>,
) -> (std::process::Output, std::io::Result<()>)
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    let mut child = Command::new(program)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("program runs");
    let mut input = child.stdin.take().expect("stdin");
    let writer = std::thread::spawn(move || input.write_all(&stdin));
    let out = child.wait_with_output().expect("program finishes");
    let written = writer.join().expect("stdin writer");
    (out, written)
}
