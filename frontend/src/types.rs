//! The types of the language and function signatures.

use std::fmt;

/// Element type of an array.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Elem {
    /// `[int]`
    Int,
    /// `[float]`
    Float,
    /// `[bool]`
    Bool,
}

/// A type of the language.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Type {
    /// 64-bit signed integer.
    Int,
    /// IEEE f64.
    Float,
    /// `true` / `false`.
    Bool,
    /// The type of functions without `-> T` and of statements.
    Unit,
    /// A one-dimensional heap array with reference semantics.
    Array(Elem),
    /// The type of diverging expressions (`return`, `break`, `continue`, a block that ends in
    /// one); fits any type. Appears only in the typed AST, never in a signature or a global.
    Never,
    /// Poison: the type of an expression (or an annotation) whose error has already been
    /// reported. It fits everything and accepts everything, so one mistake does not cascade
    /// into follow-up errors. A program containing it is always rejected: it never reaches
    /// the back end.
    Error,
}

impl Type {
    /// True for the types that fit wherever a value is expected: divergence and poison.
    pub fn fits_anywhere(self) -> bool {
        matches!(self, Type::Never | Type::Error)
    }

    /// The element type as a full type, for arrays.
    pub fn elem(self) -> Option<Type> {
        match self {
            Type::Array(Elem::Int) => Some(Type::Int),
            Type::Array(Elem::Float) => Some(Type::Float),
            Type::Array(Elem::Bool) => Some(Type::Bool),
            _ => None,
        }
    }

    /// The array type whose elements are `self`, if `self` can be an element.
    pub fn array_of(self) -> Option<Type> {
        match self {
            Type::Int => Some(Type::Array(Elem::Int)),
            Type::Float => Some(Type::Array(Elem::Float)),
            Type::Bool => Some(Type::Array(Elem::Bool)),
            _ => None,
        }
    }
}

impl fmt::Display for Type {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Type::Int => write!(f, "int"),
            Type::Float => write!(f, "float"),
            Type::Bool => write!(f, "bool"),
            Type::Unit => write!(f, "()"),
            Type::Array(Elem::Int) => write!(f, "[int]"),
            Type::Array(Elem::Float) => write!(f, "[float]"),
            Type::Array(Elem::Bool) => write!(f, "[bool]"),
            Type::Never => write!(f, "!"),
            Type::Error => write!(f, "{{error}}"),
        }
    }
}

/// The signature of a user function: what callers are checked against.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct FnSig {
    /// Parameter types in order.
    pub params: Vec<Type>,
    /// Return type (`Type::Unit` when the function has no `-> T`).
    pub ret: Type,
}

impl fmt::Display for FnSig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "fn(")?;
        for (i, p) in self.params.iter().enumerate() {
            if i > 0 {
                write!(f, ", ")?;
            }
            write!(f, "{p}")?;
        }
        write!(f, ")")?;
        if self.ret != Type::Unit {
            write!(f, " -> {}", self.ret)?;
        }
        Ok(())
    }
}
