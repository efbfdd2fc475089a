//! A tiny argument parser: `--name VALUE`, `--name=VALUE` and bare `--flag`s, nothing else.

use std::ffi::OsString;
use std::fmt;
use std::str::FromStr;

/// A command line error, shown with the subcommand's usage.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct ArgError(pub(crate) String);

impl fmt::Display for ArgError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ArgError {}

/// The command line as text: an argument that is not UTF-8 is refused (never a panic), named by
/// its position (1 = the subcommand) and shown with the bad bytes replaced.
pub(crate) fn from_os(args: impl IntoIterator<Item = OsString>) -> Result<Vec<String>, ArgError> {
    args.into_iter()
        .enumerate()
        .map(|(i, arg)| {
            arg.into_string().map_err(|bad| {
                ArgError(format!(
                    "argument {} ({:?}) is not valid UTF-8",
                    i + 1,
                    bad.to_string_lossy()
                ))
            })
        })
        .collect()
}

/// The arguments after the subcommand. Options are taken out one by one; [`Args::finish`]
/// refuses whatever nobody took.
#[derive(Debug)]
pub(crate) struct Args {
    rest: Vec<String>,
}

impl Args {
    pub(crate) fn new(args: impl IntoIterator<Item = String>) -> Self {
        Self {
            rest: args.into_iter().collect(),
        }
    }

    /// Whether `--name` is present (and removes it).
    pub(crate) fn flag(&mut self, name: &str) -> bool {
        let before = self.rest.len();
        self.rest.retain(|a| a != name);
        self.rest.len() != before
    }

    /// The value of `--name VALUE` or `--name=VALUE`, parsed; `None` when absent.
    pub(crate) fn value<T: FromStr>(&mut self, name: &str) -> Result<Option<T>, ArgError>
    where
        T::Err: fmt::Display,
    {
        let prefix = format!("{name}=");
        let Some(i) = self
            .rest
            .iter()
            .position(|a| a == name || a.starts_with(&prefix))
        else {
            return Ok(None);
        };
        let arg = self.rest.remove(i);
        let text = match arg.strip_prefix(&prefix) {
            Some(text) => text.to_owned(),
            None if i < self.rest.len() => self.rest.remove(i),
            None => return Err(ArgError(format!("{name} needs a value"))),
        };
        text.parse()
            .map(Some)
            .map_err(|err| ArgError(format!("{name} {text:?}: {err}")))
    }

    /// The first argument that is not an option (and removes it).
    pub(crate) fn positional(&mut self) -> Option<String> {
        let i = self.rest.iter().position(|a| !a.starts_with("--"))?;
        Some(self.rest.remove(i))
    }

    /// Fails if an argument was not taken by [`Args::flag`] or [`Args::value`].
    pub(crate) fn finish(self) -> Result<(), ArgError> {
        match self.rest.first() {
            None => Ok(()),
            Some(arg) => Err(ArgError(format!("unexpected argument {arg:?}"))),
        }
    }
}

/// `on` or `off`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct OnOff(pub(crate) bool);

impl FromStr for OnOff {
    type Err = &'static str;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "on" => Ok(Self(true)),
            "off" => Ok(Self(false)),
            _ => Err("expected on or off"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> Args {
        Args::new(list.iter().map(|s| (*s).to_owned()))
    }

    #[test]
    fn values_and_flags() {
        let mut a = args(&["--duration", "2", "--help", "--mss=1200"]);
        assert!(a.flag("--help"));
        assert_eq!(a.value::<u64>("--duration"), Ok(Some(2)));
        assert_eq!(a.value::<u16>("--mss"), Ok(Some(1200)));
        assert_eq!(a.value::<u16>("--flows"), Ok(None));
        assert_eq!(a.finish(), Ok(()));
        let mut b = args(&["--tap", "4500"]);
        assert!(b.flag("--tap"));
        assert_eq!(b.positional().as_deref(), Some("4500"));
        assert_eq!(b.finish(), Ok(()));
    }

    #[test]
    fn non_utf8_arguments_are_refused() {
        use std::os::unix::ffi::OsStringExt;
        let good = ["check", "--tap"].map(OsString::from);
        assert_eq!(from_os(good), Ok(vec!["check".into(), "--tap".into()]));
        let bad = [
            OsString::from("check"),
            OsString::from_vec(vec![b'x', 0xff]),
        ];
        assert_eq!(
            from_os(bad),
            Err(ArgError(
                "argument 2 (\"x\u{fffd}\") is not valid UTF-8".into()
            ))
        );
    }

    #[test]
    fn errors() {
        assert!(args(&["--mss"]).value::<u16>("--mss").is_err());
        assert!(args(&["--mss", "x"]).value::<u16>("--mss").is_err());
        assert!(args(&["--bogus"]).finish().is_err());
        assert_eq!(
            args(&["--offload", "off"]).value::<OnOff>("--offload"),
            Ok(Some(OnOff(false)))
        );
    }
}
