//! Errors: [`Error`] is what a handler returns; [`RuntimeError`] is why the runtime stopped.

use lambda_actors_api::ErrorBody;
use std::borrow::Cow;
use std::fmt;

/// A handler's error: a short `errorType`, a message, and the cause chain.
///
/// Any `std::error::Error + Send + Sync + 'static` converts into it with `?`; its type name
/// becomes a short `errorType` (`std::io::Error` → `IoError`, `ParseIntError` stays), never a
/// Rust type path. A handler need not return this type: see [`IntoError`] for what it may
/// return. Choose the type yourself with [`Error::new`]:
///
/// ```
/// use lambda_actors::Error;
/// let err = Error::new("ValidationError", "name must not be empty");
/// assert_eq!(err.error_type(), "ValidationError");
/// ```
pub struct Error {
    error_type: Cow<'static, str>,
    message: String,
    causes: Vec<String>,
}

impl Error {
    /// An error with a type of your choosing (`ValidationError`; the `Lambda-Runtime-Function-Error-Type`
    /// header becomes `Function.ValidationError`) and a message.
    pub fn new(error_type: impl Into<Cow<'static, str>>, message: impl Into<String>) -> Self {
        Self {
            error_type: error_type.into(),
            message: message.into(),
            causes: Vec::new(),
        }
    }

    /// An error of type `FunctionError` with just a message.
    pub fn msg(message: impl Into<String>) -> Self {
        Self::new(FUNCTION_ERROR, message)
    }

    /// Converts a boxed error, keeping its cause chain.
    pub fn from_boxed(err: Box<dyn std::error::Error + Send + Sync + 'static>) -> Self {
        let mut out = Self::new(FUNCTION_ERROR, err.to_string());
        out.causes = causes_of(err.source());
        out
    }

    /// Adds a cause, reported in `stackTrace` (outermost first).
    pub fn with_cause(mut self, cause: impl fmt::Display) -> Self {
        self.causes.push(cause.to_string());
        self
    }

    /// The `errorType` Lambda reports.
    pub fn error_type(&self) -> &str {
        &self.error_type
    }

    /// The `errorMessage` Lambda reports.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The causes, reported as `stackTrace`.
    pub fn causes(&self) -> &[String] {
        &self.causes
    }

    pub(crate) fn to_body(&self) -> ErrorBody {
        ErrorBody {
            error_message: self.message.clone(),
            error_type: self.error_type.to_string(),
            stack_trace: self.causes.clone(),
        }
    }
}

fn causes_of(mut source: Option<&(dyn std::error::Error + 'static)>) -> Vec<String> {
    let mut causes = Vec::new();
    while let Some(err) = source {
        causes.push(err.to_string());
        source = err.source();
    }
    causes
}

impl<E: std::error::Error + Send + Sync + 'static> From<E> for Error {
    fn from(err: E) -> Self {
        Self {
            error_type: Cow::Owned(short_type_name(std::any::type_name::<E>())),
            message: err.to_string(),
            causes: causes_of(err.source()),
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.error_type, self.message)
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Error")
            .field("error_type", &self.error_type)
            .field("message", &self.message)
            .field("causes", &self.causes)
            .finish()
    }
}

/// The error a handler may return: whatever error type its author uses. Implemented for
///
/// - [`Error`] — you choose the `errorType` ([`Error::new`]);
/// - every `std::error::Error + Send + Sync + 'static` — a `thiserror` enum, `std::io::Error`,
///   `serde_json::Error`: the `errorType` is the type's short name (`AppError`, `IoError`,
///   `SerdeJsonError`), never a type path;
/// - `Box<dyn std::error::Error + Send + Sync>` (`lambda_runtime`'s `Error` alias), `String`,
///   `&'static str`, `anyhow::Error`, `eyre::Report` (everything that converts into such a
///   box): `errorType` `FunctionError`, as the concrete type is not known.
///
/// The `errorMessage` is the error's `Display`; its `source()` chain goes to `stackTrace`,
/// outermost first. A handler function passes to the entry points as it is:
///
/// ```no_run
/// #[derive(Debug, thiserror::Error)]
/// enum AppError {
///     #[error("no order {0}")]
///     NotFound(u64),
/// }
///
/// async fn handler(id: u64, _ctx: lambda_actors::Context) -> Result<String, AppError> {
///     Err(AppError::NotFound(id))
/// }
///
/// fn main() -> Result<(), lambda_actors::RuntimeError> {
///     lambda_actors::run_fn(handler) // errorType "AppError", errorMessage "no order 7"
/// }
/// ```
pub trait IntoError {
    /// The error as the runtime reports it.
    fn into_error(self) -> Error;
}

impl<E> IntoError for E
where
    E: Into<Box<dyn std::error::Error + Send + Sync + 'static>>,
{
    fn into_error(self) -> Error {
        let name = std::any::type_name::<E>();
        let boxed: Box<dyn std::error::Error + Send + Sync + 'static> = self.into();
        if let Some(error_type) = named(&*boxed) {
            return Error {
                error_type,
                message: boxed.to_string(),
                causes: causes_of(boxed.source()),
            };
        }
        // An `Error` (itself, or boxed on the way, e.g. through tower's `BoxError`): whole.
        let boxed = match boxed.downcast::<Boxed>() {
            Ok(ours) => return ours.0,
            Err(other) => other,
        };
        let error_type = if OPAQUE_ERRORS.iter().any(|p| name.starts_with(p)) {
            Cow::Borrowed(FUNCTION_ERROR)
        } else {
            Cow::Owned(short_type_name(name))
        };
        Error {
            error_type,
            message: boxed.to_string(),
            causes: causes_of(boxed.source()),
        }
    }
}

/// Names the `errorType` of each value of your error type — one per variant of an enum, say —
/// when handlers return it as it is. Implement it (the default is the type's short name, as
/// without it), then register the type once with
/// [`Runtime::error_types`](crate::Runtime::error_types).
///
/// ```no_run
/// use std::borrow::Cow;
///
/// #[derive(Debug, thiserror::Error)]
/// enum AppError {
///     #[error("order {0} not found")]
///     NotFound(u64),
///     #[error("the quantity must be positive")]
///     Invalid,
/// }
///
/// impl lambda_actors::ErrorType for AppError {
///     fn error_type(&self) -> Cow<'static, str> {
///         match self {
///             AppError::NotFound(_) => "NotFound".into(),
///             AppError::Invalid => "ValidationError".into(),
///         }
///     }
/// }
///
/// async fn handler(id: u64, _ctx: lambda_actors::Context) -> Result<String, AppError> {
///     Err(AppError::NotFound(id)) // errorType "NotFound"
/// }
///
/// fn main() -> Result<(), lambda_actors::RuntimeError> {
///     lambda_actors::Runtime::new().error_types::<AppError>().run_fn(handler)
/// }
/// ```
pub trait ErrorType: std::error::Error + Send + Sync + 'static {
    /// This error's `errorType`. Default: the type's short name (`AppError`).
    fn error_type(&self) -> Cow<'static, str> {
        Cow::Owned(short_type_name(std::any::type_name::<Self>()))
    }
}

/// How a registered [`ErrorType`] names a boxed error of its type (`None`: another type).
type Namer = fn(&(dyn std::error::Error + 'static)) -> Option<Cow<'static, str>>;

/// The registered [`ErrorType`]s; read only when a handler fails.
static NAMERS: parking_lot::RwLock<Vec<(std::any::TypeId, Namer)>> = parking_lot::RwLock::new(Vec::new());

/// Registers `E`'s [`ErrorType`] (once per type).
pub(crate) fn register_error_type<E: ErrorType>() {
    fn namer<E: ErrorType>(err: &(dyn std::error::Error + 'static)) -> Option<Cow<'static, str>> {
        err.downcast_ref::<E>().map(ErrorType::error_type)
    }
    let mut namers = NAMERS.write();
    let id = std::any::TypeId::of::<E>();
    if !namers.iter().any(|(t, _)| *t == id) {
        namers.push((id, namer::<E>));
    }
}

/// The registered name of `err`, if its type is registered.
fn named(err: &(dyn std::error::Error + 'static)) -> Option<Cow<'static, str>> {
    NAMERS.read().iter().find_map(|(_, namer)| namer(err))
}

/// An [`Error`] as a `std::error::Error`, inside a `Box<dyn Error + Send + Sync>` (tower's
/// `BoxError`, `lambda_runtime`'s `Error`); [`IntoError`] takes it out whole again.
#[derive(Debug)]
struct Boxed(Error);

impl fmt::Display for Boxed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0.message)
    }
}

impl std::error::Error for Boxed {}

/// So that an [`Error`] passes where a boxed error is expected (tower layers, `?` in a function
/// returning `Box<dyn Error + Send + Sync>`), keeping its `errorType` and causes for the runtime.
impl From<Error> for Box<dyn std::error::Error + Send + Sync + 'static> {
    fn from(err: Error) -> Self {
        Box::new(Boxed(err))
    }
}

/// The `errorType` of an error whose type says nothing (a string, a boxed or wrapped error).
const FUNCTION_ERROR: &str = "FunctionError";

/// Type paths of errors whose concrete type is hidden or is not an error type at all.
const OPAQUE_ERRORS: &[&str] = &[
    "alloc::string::String",
    "&str",
    "alloc::borrow::Cow<",
    "alloc::boxed::Box<dyn ",
    "anyhow::",
    "eyre::",
    "color_eyre::",
    "miette::",
];

/// `std::io::error::Error` → `IoError`, `core::num::error::ParseIntError` → `ParseIntError`,
/// `serde_json::error::Error` → `SerdeJsonError`, `my::Thing<u8>` → `Thing`.
pub(crate) fn short_type_name(path: &str) -> String {
    let path = path.split('<').next().unwrap_or(path);
    let segments: Vec<&str> = path.split("::").filter(|s| !s.is_empty()).collect();
    let last = segments.last().copied().unwrap_or("Error");
    if last != "Error" {
        return last.to_owned();
    }
    let module = segments
        .iter()
        .rev()
        .skip(1)
        .find(|s| !s.eq_ignore_ascii_case("error") && !s.eq_ignore_ascii_case("errors"));
    match module {
        Some(m) => {
            let mut name: String = m
                .split('_')
                .filter(|p| !p.is_empty())
                .map(|p| {
                    let mut c = p.chars();
                    c.next()
                        .map(|f| f.to_ascii_uppercase().to_string() + c.as_str())
                        .unwrap_or_default()
                })
                .collect();
            name.push_str("Error");
            name
        }
        None => "Error".to_owned(),
    }
}

/// Why the runtime stopped with a failure: bad configuration, failed initialisation, or a
/// Runtime API that cannot be used. One type with predicates; its `Debug` is its message, so
/// `fn main() -> Result<(), RuntimeError>` prints something a person can act on.
pub struct RuntimeError {
    kind: RuntimeErrorKind,
    message: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum RuntimeErrorKind {
    Config,
    Init,
    Api,
}

impl RuntimeError {
    pub(crate) fn config(message: impl Into<String>) -> Self {
        Self {
            kind: RuntimeErrorKind::Config,
            message: message.into(),
        }
    }

    pub(crate) fn init(message: impl Into<String>) -> Self {
        Self {
            kind: RuntimeErrorKind::Init,
            message: message.into(),
        }
    }

    pub(crate) fn api(message: impl Into<String>) -> Self {
        Self {
            kind: RuntimeErrorKind::Api,
            message: message.into(),
        }
    }

    /// An environment variable had a value the runtime cannot use.
    pub fn is_config(&self) -> bool {
        self.kind == RuntimeErrorKind::Config
    }

    /// Initialisation (the init future or the handler factory) failed.
    pub fn is_init(&self) -> bool {
        self.kind == RuntimeErrorKind::Init
    }

    /// The Runtime API told the runtime to exit, or could not be reached.
    pub fn is_api(&self) -> bool {
        self.kind == RuntimeErrorKind::Api
    }
}

impl fmt::Display for RuntimeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl fmt::Debug for RuntimeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for RuntimeError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn type_names_are_short_and_meaningful() {
        assert_eq!(short_type_name("std::io::error::Error"), "IoError");
        assert_eq!(short_type_name("serde_json::error::Error"), "SerdeJsonError");
        assert_eq!(short_type_name("core::num::error::ParseIntError"), "ParseIntError");
        assert_eq!(short_type_name("my_crate::Thing<u8>"), "Thing");
        assert_eq!(short_type_name("Error"), "Error");
    }

    #[test]
    fn std_errors_convert_with_their_cause_chain() {
        #[derive(Debug)]
        struct Outer(std::io::Error);
        impl fmt::Display for Outer {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("saving failed")
            }
        }
        impl std::error::Error for Outer {
            fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
                Some(&self.0)
            }
        }
        let err: Error = Outer(std::io::Error::other("disk full")).into();
        assert_eq!(err.error_type(), "Outer");
        assert_eq!(err.message(), "saving failed");
        assert_eq!(err.causes(), ["disk full"]);
        let body = err.to_body();
        assert_eq!(body.header_type(), "Function.Outer");
    }
}
