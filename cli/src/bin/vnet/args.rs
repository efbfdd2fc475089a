//! What clap does not: arguments that are not UTF-8 (O7), errors found after parsing, `on|off`.

use std::ffi::OsString;
use std::fmt;
use std::str::FromStr;

/// A command line error found after parsing (two options that contradict each other, a device
/// that does not exist): exit status 2, as clap's own errors.
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
    fn on_off() {
        assert_eq!("on".parse(), Ok(OnOff(true)));
        assert_eq!("off".parse(), Ok(OnOff(false)));
        assert!("yes".parse::<OnOff>().is_err());
    }
}
