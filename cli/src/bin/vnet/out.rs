//! Everything `vnet` writes to stdout goes through here. A write that fails is a
//! [`StdoutError`], which `main` turns into the exit status: a closed pipe (`vnet check | head`)
//! ends the program quietly with status 141, what a shell reports for a process SIGPIPE killed;
//! any other failure (a full disk) is reported, status 1. SIGPIPE itself stays ignored (Rust's
//! default): a signal would end `vnet demo` or `vnet relay` without their cleanup, and the relay
//! treats EPIPE on its own descriptors as an error to handle (H5). Writes to stderr never stop
//! the program: what cannot be said there is dropped (`errln!`).

use std::error::Error;
use std::fmt;
use std::io::{self, Write};

/// The status a shell reports for a process killed by SIGPIPE (128 + 13).
pub(crate) const CLOSED_PIPE_STATUS: u8 = 141;

/// stdout could not be written.
#[derive(Debug)]
pub(crate) struct StdoutError(pub(crate) io::Error);

impl fmt::Display for StdoutError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "stdout: {}", self.0)
    }
}

impl Error for StdoutError {}

impl StdoutError {
    /// Whether the reader went away (EPIPE): the quiet ending.
    pub(crate) fn closed(&self) -> bool {
        self.0.kind() == io::ErrorKind::BrokenPipe
    }
}

/// The [`StdoutError`] in `err`, given as itself or inside an `io::Error` (what `Stdout`'s
/// writes return).
pub(crate) fn stdout_error<'a>(err: &'a (dyn Error + 'static)) -> Option<&'a StdoutError> {
    err.downcast_ref::<StdoutError>().or_else(|| {
        err.downcast_ref::<io::Error>()
            .and_then(io::Error::get_ref)
            .and_then(|inner| inner.downcast_ref::<StdoutError>())
    })
}

/// stdout as a writer whose errors carry a [`StdoutError`].
#[derive(Debug)]
pub(crate) struct Stdout(io::StdoutLock<'static>);

impl Stdout {
    pub(crate) fn lock() -> Stdout {
        Stdout(io::stdout().lock())
    }
}

fn wrap(err: io::Error) -> io::Error {
    io::Error::other(StdoutError(err))
}

impl Write for Stdout {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.write(buf).map_err(wrap)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.0.flush().map_err(wrap)
    }
}

/// Writes `text` to stdout and flushes.
pub(crate) fn text(text: &str) -> Result<(), StdoutError> {
    let mut out = io::stdout().lock();
    out.write_all(text.as_bytes())
        .and_then(|()| out.flush())
        .map_err(StdoutError)
}

/// Writes `text` and a newline to stdout and flushes.
pub(crate) fn line(text: &str) -> Result<(), StdoutError> {
    let mut out = io::stdout().lock();
    out.write_all(text.as_bytes())
        .and_then(|()| out.write_all(b"\n"))
        .and_then(|()| out.flush())
        .map_err(StdoutError)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stdout_errors_are_found_where_they_travel() {
        let pipe = || io::Error::from(io::ErrorKind::BrokenPipe);
        let boxed: Box<dyn Error> = Box::new(StdoutError(pipe()));
        assert!(stdout_error(&*boxed).is_some_and(StdoutError::closed));
        let inside: Box<dyn Error> = Box::new(wrap(pipe()));
        assert!(stdout_error(&*inside).is_some_and(StdoutError::closed));
        let other: Box<dyn Error> = Box::new(pipe());
        assert!(stdout_error(&*other).is_none());
    }
}
