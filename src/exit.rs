//! Exit status: one mapping for every mode. `check` speaks Nagios (0 OK,
//! 1 WARNING, 2 CRITICAL, 3 UNKNOWN); `scan` and `tail` exit 0 when every
//! input was read in full and 3 when some input could not be (a damaged gzip,
//! a missing file), after processing everything that could be read.

use serde::{Deserialize, Serialize};

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Status {
    Ok,
    Warning,
    Critical,
    Unknown,
}

impl Status {
    pub fn code(self) -> u8 {
        match self {
            Status::Ok => 0,
            Status::Warning => 1,
            Status::Critical => 2,
            Status::Unknown => 3,
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Status::Ok => "OK",
            Status::Warning => "WARNING",
            Status::Critical => "CRITICAL",
            Status::Unknown => "UNKNOWN",
        }
    }

    /// The worse of two statuses (Unknown beats everything).
    pub fn merge(self, other: Status) -> Status {
        self.max(other)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merge_keeps_the_worst() {
        assert_eq!(Status::Ok.merge(Status::Warning), Status::Warning);
        assert_eq!(Status::Critical.merge(Status::Warning), Status::Critical);
        assert_eq!(Status::Critical.merge(Status::Unknown), Status::Unknown);
        assert_eq!(Status::Unknown.code(), 3);
    }
}
