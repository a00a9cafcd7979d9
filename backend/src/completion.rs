//! What an editor needs to complete names and show signatures, as plain data.
//!
//! The REPL's line editor feeds its completer and signature hints from
//! [`crate::Session::completion_data`]; the same rows can be sent to a client over a socket.
//! Nothing here is text to parse back: names, parameter lists and types are separate fields.

use crate::versions::{Registry, Version};
use livejit_frontend::tast::Builtin;
use livejit_frontend::Type;

/// A function or builtin as an editor shows it: `name(params) -> ret`.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Callable {
    /// Its name.
    pub name: String,
    /// Each parameter as written (`a: int`), or its type alone for builtins (`float`);
    /// `values...` for `print`.
    pub params: Vec<String>,
    /// The result type, `None` for unit.
    pub ret: Option<String>,
}

impl Callable {
    /// `(a: int, b: int) -> int`.
    pub fn signature(&self) -> String {
        let mut s = format!("({})", self.params.join(", "));
        if let Some(r) = &self.ret {
            s.push_str(" -> ");
            s.push_str(r);
        }
        s
    }
}

/// A named, typed thing: a global, or a field of a struct.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Typed {
    /// Its name.
    pub name: String,
    /// Its type as the language writes it.
    pub ty: String,
}

/// A struct type and its fields, in declaration order.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct StructInfo {
    /// The struct's name.
    pub name: String,
    /// Its fields.
    pub fields: Vec<Typed>,
}

/// Every name an input can use right now, with its signature or type.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct CompletionData {
    /// User functions (live versions), by name.
    pub functions: Vec<Callable>,
    /// Builtin functions.
    pub builtins: Vec<Callable>,
    /// Globals, by name.
    pub globals: Vec<Typed>,
    /// Struct types, by name.
    pub structs: Vec<StructInfo>,
}

impl CompletionData {
    /// The function or builtin called `name`.
    pub fn callable(&self, name: &str) -> Option<&Callable> {
        self.functions
            .iter()
            .chain(&self.builtins)
            .find(|c| c.name == name)
    }

    /// The type of global `name`.
    pub fn global_type(&self, name: &str) -> Option<&str> {
        self.globals
            .iter()
            .find(|g| g.name == name)
            .map(|g| g.ty.as_str())
    }

    /// The struct called `name`.
    pub fn struct_info(&self, name: &str) -> Option<&StructInfo> {
        self.structs.iter().find(|s| s.name == name)
    }
}

/// Collects the data from the registry (under its lock).
pub(crate) fn collect(reg: &Registry) -> CompletionData {
    CompletionData {
        functions: reg
            .fns
            .iter()
            .map(|(name, f)| callable(name, f.current()))
            .collect(),
        builtins: Builtin::ALL.iter().map(|b| builtin(*b)).collect(),
        globals: reg
            .globals
            .iter()
            .map(|(name, g)| Typed {
                name: name.clone(),
                ty: g.ty.to_string(),
            })
            .collect(),
        structs: reg
            .structs
            .iter()
            .map(|(name, id)| StructInfo {
                name: name.clone(),
                fields: id
                    .def()
                    .fields
                    .iter()
                    .map(|(n, t)| Typed {
                        name: n.clone(),
                        ty: t.to_string(),
                    })
                    .collect(),
            })
            .collect(),
    }
}

fn ret_of(ty: Type) -> Option<String> {
    (ty != Type::Unit).then(|| ty.to_string())
}

/// A user function: parameter names from the version's text, types from its signature.
fn callable(name: &str, v: &Version) -> Callable {
    let names = param_names(&v.text);
    let params = if names.len() == v.sig.params.len() {
        names
            .iter()
            .zip(&v.sig.params)
            .map(|(n, t)| format!("{n}: {t}"))
            .collect()
    } else {
        v.sig.params.iter().map(Type::to_string).collect()
    };
    Callable {
        name: name.to_string(),
        params,
        ret: ret_of(v.sig.ret),
    }
}

/// The parameter names of `fn name(a: T, b: U) ...`: the text before each `:` in the first
/// bracketed list, split at commas outside nested brackets.
fn param_names(text: &str) -> Vec<String> {
    let Some(open) = text.find('(') else {
        return Vec::new();
    };
    let mut depth = 0usize;
    let mut names = Vec::new();
    let mut current = String::new();
    for c in text[open + 1..].chars() {
        match c {
            '(' | '[' | '{' => depth += 1,
            ')' if depth == 0 => break,
            ')' | ']' | '}' => depth = depth.saturating_sub(1),
            ',' if depth == 0 => {
                names.push(std::mem::take(&mut current));
                continue;
            }
            _ => {}
        }
        current.push(c);
    }
    names.push(current);
    names
        .iter()
        .filter_map(|p| {
            let name = p.split(':').next()?.trim();
            (!name.is_empty()).then(|| name.to_string())
        })
        .collect()
}

fn builtin(b: Builtin) -> Callable {
    let (params, ret) = match b.signature() {
        Some((params, ret)) => (params.iter().map(Type::to_string).collect(), ret_of(ret)),
        None => match b {
            Builtin::Print => (vec!["values...".to_string()], None),
            Builtin::Copy => (vec!["x: T".to_string()], Some("T".to_string())),
            Builtin::Len => (vec!["xs: [T] or str".to_string()], Some("int".to_string())),
            Builtin::Str => (vec!["x: T".to_string()], Some("str".to_string())),
            Builtin::Abs => (vec!["x: int or float".to_string()], Some("T".to_string())),
            _ => (
                vec!["a: int or float".to_string(), "b: T".to_string()],
                Some("T".to_string()),
            ),
        },
    };
    Callable {
        name: b.name().to_string(),
        params,
        ret,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parameter_names_come_from_the_text() {
        assert_eq!(
            param_names("fn gcd(a: int, b: int) -> int { a }"),
            vec!["a", "b"]
        );
        assert_eq!(param_names("fn f() { }"), Vec::<String>::new());
        assert_eq!(param_names("fn s(xs: [int], n: int) {}"), vec!["xs", "n"]);
    }

    #[test]
    fn builtins_have_signatures() {
        let sqrt = builtin(Builtin::Sqrt);
        assert_eq!(sqrt.signature(), "(float) -> float");
        assert_eq!(builtin(Builtin::Print).signature(), "(values...)");
        assert_eq!(builtin(Builtin::Len).signature(), "(xs: [T] or str) -> int");
    }
}
