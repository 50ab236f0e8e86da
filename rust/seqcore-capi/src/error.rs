//! Status codes, the per-thread last-error message, and the panic guard every
//! entry point runs in.

use std::any::Any;
use std::cell::RefCell;
use std::ffi::{c_char, c_int, CString};
use std::panic::{catch_unwind, AssertUnwindSafe};

use seqcore::decode::DecodeError;

/// What a call did. `SEQCORE_STATUS_OK` is 0 and every failure is non-zero;
/// treat a value not listed here (from a newer library) as a failure.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SeqcoreStatus {
    /// Success.
    Ok = 0,
    /// A NULL or misaligned pointer, an unknown enum value, an index out of
    /// range, a candidate token id outside the vocabulary, or a float32 call
    /// on a float64 search (or the reverse).
    InvalidArgument = 1,
    /// The configuration cannot run (e.g. the number of groups does not
    /// divide the number of beams); see seqcore_search_config_validate().
    ConfigError = 2,
    /// An input has the wrong shape: rows, vocabulary size, k, or an empty
    /// batch.
    ShapeError = 3,
    /// A log-prob is NaN or +inf (-inf is allowed: it bans a token).
    NonFinite = 4,
    /// A step was asked of a search that is done; call
    /// seqcore_search_finalize().
    Finished = 5,
    /// An output buffer is too small; `*out_len` holds the size needed.
    BufferTooSmall = 6,
    /// A bug in seqcore (a caught Rust panic).
    Internal = 7,
    /// seqcore_search_finalize() was called before the first step.
    NotStarted = 8,
}

impl SeqcoreStatus {
    /// The status with this C value, if any.
    pub(crate) fn from_int(value: c_int) -> Option<Self> {
        Some(match value {
            0 => Self::Ok,
            1 => Self::InvalidArgument,
            2 => Self::ConfigError,
            3 => Self::ShapeError,
            4 => Self::NonFinite,
            5 => Self::Finished,
            6 => Self::BufferTooSmall,
            7 => Self::Internal,
            8 => Self::NotStarted,
            _ => return None,
        })
    }
}

/// A failed call: its status and the message seqcore_last_error() returns.
#[derive(Debug)]
pub(crate) struct Failure {
    pub status: SeqcoreStatus,
    pub message: String,
}

impl Failure {
    pub fn invalid(message: impl Into<String>) -> Self {
        Self {
            status: SeqcoreStatus::InvalidArgument,
            message: message.into(),
        }
    }

    pub fn shape(message: impl Into<String>) -> Self {
        Self {
            status: SeqcoreStatus::ShapeError,
            message: message.into(),
        }
    }

    pub fn too_small(what: &str, needed: usize, capacity: usize) -> Self {
        Self {
            status: SeqcoreStatus::BufferTooSmall,
            message: format!("{what}: capacity {capacity}, {needed} needed"),
        }
    }

    pub fn internal(message: impl Into<String>) -> Self {
        Self {
            status: SeqcoreStatus::Internal,
            message: message.into(),
        }
    }
}

impl From<DecodeError> for Failure {
    fn from(error: DecodeError) -> Self {
        let status = match &error {
            DecodeError::Config(_) => SeqcoreStatus::ConfigError,
            DecodeError::Shape(_) => SeqcoreStatus::ShapeError,
            DecodeError::NonFinite { .. } => SeqcoreStatus::NonFinite,
            DecodeError::Finished => SeqcoreStatus::Finished,
            DecodeError::NotStarted => SeqcoreStatus::NotStarted,
            DecodeError::TokenOutOfRange { .. } => SeqcoreStatus::InvalidArgument,
        };
        Self {
            status,
            message: error.to_string(),
        }
    }
}

/// The result of an entry point's body.
pub(crate) type Outcome<T = ()> = Result<T, Failure>;

thread_local! {
    /// The message of this thread's last status-returning call ("" after a
    /// success).
    static LAST_ERROR: RefCell<CString> = RefCell::new(CString::default());
}

fn set_last_error(message: &str) {
    // A NUL inside the message would end the C string early; none of ours
    // has one, but a panic payload could.
    let text = CString::new(message.replace('\0', "\\0")).unwrap_or_default();
    // `try_with` fails only while the thread is being torn down, when there
    // is nobody left to read the message.
    let _ = LAST_ERROR.try_with(|slot| *slot.borrow_mut() = text);
}

fn panic_message(payload: &(dyn Any + Send)) -> &str {
    if let Some(text) = payload.downcast_ref::<&str>() {
        text
    } else if let Some(text) = payload.downcast_ref::<String>() {
        text
    } else {
        "(no message)"
    }
}

/// Runs an entry point's body: catches any panic, records the message
/// (empty on success) and turns the outcome into a status.
pub(crate) fn guard(body: impl FnOnce() -> Outcome) -> SeqcoreStatus {
    let outcome = match catch_unwind(AssertUnwindSafe(body)) {
        Ok(outcome) => outcome,
        Err(payload) => Err(Failure::internal(format!(
            "internal error (a bug in seqcore, please report it): {}",
            panic_message(payload.as_ref())
        ))),
    };
    let (status, message) = match outcome {
        Ok(()) => (SeqcoreStatus::Ok, String::new()),
        Err(failure) => (failure.status, failure.message),
    };
    // Recording the message allocates; keep even that from unwinding.
    if catch_unwind(|| set_last_error(&message)).is_err() {
        return SeqcoreStatus::Internal;
    }
    status
}

/// Runs a `..._free` function's body: a panic is caught and dropped (there
/// is no status to report it with), and the last-error message is left
/// alone.
pub(crate) fn guard_free(body: impl FnOnce()) {
    let _ = catch_unwind(AssertUnwindSafe(body));
}

/// The message of the last failed call on this thread, or `""` when the last
/// status-returning call on this thread succeeded (or there was none).
///
/// The message is UTF-8 and NUL-terminated. It belongs to the library and
/// stays valid until the next status-returning seqcore call on the same
/// thread; copy it to keep it. The `..._free` functions, seqcore_version(),
/// seqcore_status_name() and this function leave it unchanged.
///
/// @return The message (never NULL; do not free it).
#[no_mangle]
pub extern "C" fn seqcore_last_error() -> *const c_char {
    // `try_with` fails only during the thread's teardown, and nothing else
    // holds the slot meanwhile; the guard is there for the rule, not a risk.
    catch_unwind(|| LAST_ERROR.try_with(|slot| slot.borrow().as_ptr()))
        .ok()
        .and_then(Result::ok)
        .unwrap_or(c"".as_ptr())
}
