//! The types of the language and function signatures.
//!
//! `Type` is `Copy`: compound types are handles into one process-wide table of interned
//! types. An array type holds an [`Elem`] (its interned element type), a struct type a
//! [`StructId`]. Interning makes identity structural: two `[[int]]` written anywhere are the
//! same handle, and two `struct` items with the same name, field names, field types and order
//! are the same [`StructId`] (so a reloaded, unchanged struct is the same type, and a changed
//! one is a new type). The table only grows; types are few.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex, OnceLock};

/// The element type of an array: a handle to an interned [`Type`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Elem(u32);

/// A struct type: a handle to an interned [`StructDef`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct StructId(u32);

/// The fields of a struct type.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct StructDef {
    /// The struct's name.
    pub name: String,
    /// Field names and types in declaration order (the layout order: field `i` is the `i`th
    /// 8-byte word of the object).
    pub fields: Vec<(String, Type)>,
}

impl StructDef {
    /// The index of a field by name.
    pub fn field(&self, name: &str) -> Option<usize> {
        self.fields.iter().position(|(n, _)| n == name)
    }
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
    /// An immutable byte string on the GC heap.
    Str,
    /// The type of functions without `-> T` and of statements.
    Unit,
    /// A heap array with reference semantics (`[T]`).
    Array(Elem),
    /// A struct (named record, reference semantics).
    Struct(StructId),
    /// The type of diverging expressions (`return`, `break`, `continue`, a `loop` without
    /// `break`, a block that ends in one); fits any type. Appears only in the typed AST, never
    /// in a signature or a global.
    Never,
    /// Poison: the type of an expression (or an annotation) whose error has already been
    /// reported. It fits everything and accepts everything, so one mistake does not cascade
    /// into follow-up errors. A program containing it is always rejected: it never reaches
    /// the back end.
    Error,
}

#[derive(Default)]
struct Tables {
    elems: Vec<Type>,
    elem_ids: HashMap<Type, u32>,
    structs: Vec<Arc<StructDef>>,
    /// Groups of mutually recursive structs (one struct alone is a group of one), with
    /// member placeholders in their field types, to the ids they were given.
    struct_ids: HashMap<Vec<StructDef>, Vec<u32>>,
}

fn tables() -> &'static Mutex<Tables> {
    static TABLES: OnceLock<Mutex<Tables>> = OnceLock::new();
    TABLES.get_or_init(|| {
        let mut t = Tables::default();
        for ty in [Type::Int, Type::Float, Type::Bool, Type::Str] {
            let id = t.elems.len() as u32;
            t.elems.push(ty);
            t.elem_ids.insert(ty, id);
        }
        Mutex::new(t)
    })
}

fn lock() -> std::sync::MutexGuard<'static, Tables> {
    // The table is never left inconsistent by a panic (every update is one push + insert).
    tables().lock().unwrap_or_else(|e| e.into_inner())
}

impl Elem {
    /// `[int]`'s element.
    pub const INT: Elem = Elem(0);
    /// `[float]`'s element.
    pub const FLOAT: Elem = Elem(1);
    /// `[bool]`'s element.
    pub const BOOL: Elem = Elem(2);
    /// `[str]`'s element.
    pub const STR: Elem = Elem(3);

    /// The handle of element type `ty` (interned on first use).
    pub fn of(ty: Type) -> Elem {
        match ty {
            Type::Int => Elem::INT,
            Type::Float => Elem::FLOAT,
            Type::Bool => Elem::BOOL,
            Type::Str => Elem::STR,
            _ => {
                let mut t = lock();
                if let Some(&id) = t.elem_ids.get(&ty) {
                    return Elem(id);
                }
                let id = t.elems.len() as u32;
                t.elems.push(ty);
                t.elem_ids.insert(ty, id);
                Elem(id)
            }
        }
    }

    /// The element type.
    pub fn ty(self) -> Type {
        match self {
            Elem::INT => Type::Int,
            Elem::FLOAT => Type::Float,
            Elem::BOOL => Type::Bool,
            Elem::STR => Type::Str,
            Elem(id) => lock()
                .elems
                .get(id as usize)
                .copied()
                .unwrap_or(Type::Never),
        }
    }
}

impl StructId {
    /// Stands for "the struct being defined" inside its own field types while it is interned
    /// (`struct Node { kids: [Node] }`); never part of a finished type. Same as `member(0)`.
    pub const SELF: StructId = StructId(u32::MAX);

    /// Stands for member `k` of a group of structs interned together (structs that refer to
    /// each other through arrays); never part of a finished type.
    pub fn member(k: usize) -> StructId {
        StructId(u32::MAX - k as u32)
    }

    /// Whether this is a placeholder (`SELF` or a `member`), not a real struct.
    pub fn is_placeholder(self) -> bool {
        self.0 >= u32::MAX - 0xffff
    }

    /// Interns a struct definition. Field types may mention [`StructId::SELF`] for the struct
    /// itself; the stored definition has them replaced by the returned id. The same
    /// definition (same name, field names, field types with `SELF` in the same places) always
    /// gives the same id.
    pub fn intern(def: StructDef) -> StructId {
        StructId::intern_group(vec![def])[0]
    }

    /// Interns a group of structs that refer to each other (through arrays): field types may
    /// mention [`StructId::member`]`(k)` for the `k`th struct of the group. The same group
    /// (same members in the same order, same fields) always gives the same ids.
    pub fn intern_group(defs: Vec<StructDef>) -> Vec<StructId> {
        let mut t = lock();
        if let Some(ids) = t.struct_ids.get(&defs) {
            return ids.iter().map(|&i| StructId(i)).collect();
        }
        let first = t.structs.len() as u32;
        let ids: Vec<StructId> = (0..defs.len() as u32)
            .map(|k| StructId(first + k))
            .collect();
        for def in &defs {
            let fields = def
                .fields
                .iter()
                .map(|(n, ty)| (n.clone(), subst_members(&mut t, *ty, &ids)))
                .collect();
            t.structs.push(Arc::new(StructDef {
                name: def.name.clone(),
                fields,
            }));
        }
        t.struct_ids.insert(defs, ids.iter().map(|i| i.0).collect());
        ids
    }

    /// The definition (name and fields).
    pub fn def(self) -> Arc<StructDef> {
        lock()
            .structs
            .get(self.0 as usize)
            .cloned()
            .unwrap_or_else(|| {
                Arc::new(StructDef {
                    name: "Self".to_string(),
                    fields: Vec::new(),
                })
            })
    }

    /// The struct's name.
    pub fn name(self) -> String {
        self.def().name.clone()
    }
}

/// `ty` with every group placeholder `member(k)` replaced by `ids[k]` (the table is already
/// locked).
fn subst_members(t: &mut Tables, ty: Type, ids: &[StructId]) -> Type {
    match ty {
        Type::Struct(s) if s.is_placeholder() => {
            let k = (u32::MAX - s.0) as usize;
            Type::Struct(ids.get(k).copied().unwrap_or(s))
        }
        Type::Array(e) => {
            let inner = t.elems.get(e.0 as usize).copied().unwrap_or(Type::Never);
            let inner = subst_members(t, inner, ids);
            if let Some(&eid) = t.elem_ids.get(&inner) {
                return Type::Array(Elem(eid));
            }
            let eid = t.elems.len() as u32;
            t.elems.push(inner);
            t.elem_ids.insert(inner, eid);
            Type::Array(Elem(eid))
        }
        other => other,
    }
}

impl Type {
    /// True for the types that fit wherever a value is expected: divergence and poison.
    pub fn fits_anywhere(self) -> bool {
        matches!(self, Type::Never | Type::Error)
    }

    /// The element type as a full type, for arrays.
    pub fn elem(self) -> Option<Type> {
        match self {
            Type::Array(e) => Some(e.ty()),
            _ => None,
        }
    }

    /// The array type whose elements are `self`, if `self` can be an element.
    pub fn array_of(self) -> Option<Type> {
        match self {
            Type::Unit | Type::Never | Type::Error => None,
            t => Some(Type::Array(Elem::of(t))),
        }
    }

    /// Whether values of this type are pointers to GC objects (str, arrays, structs): the
    /// collector must see them, so objects holding them use `GC_malloc`.
    pub fn is_pointer(self) -> bool {
        matches!(self, Type::Str | Type::Array(_) | Type::Struct(_))
    }

    /// The type as one number, for the runtime (which walks types to print, copy and zero
    /// values); [`Type::from_code`] reverses it.
    pub fn code(self) -> u64 {
        match self {
            Type::Int => 0,
            Type::Float => 1,
            Type::Bool => 2,
            Type::Str => 3,
            Type::Unit => 4,
            Type::Never => 5,
            Type::Error => 8,
            Type::Array(e) => 6 | (u64::from(e.0) << 8),
            Type::Struct(s) => 7 | (u64::from(s.0) << 8),
        }
    }

    /// The type [`Type::code`] gave `code` (`Unit` for numbers it never gives).
    pub fn from_code(code: u64) -> Type {
        let id = (code >> 8) as u32;
        match code & 0xff {
            0 => Type::Int,
            1 => Type::Float,
            2 => Type::Bool,
            3 => Type::Str,
            5 => Type::Never,
            6 => Type::Array(Elem(id)),
            7 => Type::Struct(StructId(id)),
            8 => Type::Error,
            _ => Type::Unit,
        }
    }

    /// The struct, for struct types.
    pub fn as_struct(self) -> Option<StructId> {
        match self {
            Type::Struct(s) => Some(s),
            _ => None,
        }
    }

    /// Every struct this type contains (itself, array elements, and recursively the fields of
    /// those structs), by name, added to `out`.
    pub fn structs_in(self, out: &mut std::collections::BTreeSet<String>) {
        let mut seen = std::collections::HashSet::new();
        let mut work = vec![self];
        while let Some(t) = work.pop() {
            match t {
                Type::Array(e) => work.push(e.ty()),
                Type::Struct(s) if !s.is_placeholder() && seen.insert(s) => {
                    let def = s.def();
                    out.insert(def.name.clone());
                    work.extend(def.fields.iter().map(|(_, t)| *t));
                }
                _ => {}
            }
        }
    }
}

impl fmt::Display for Type {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Type::Int => write!(f, "int"),
            Type::Float => write!(f, "float"),
            Type::Bool => write!(f, "bool"),
            Type::Str => write!(f, "str"),
            Type::Unit => write!(f, "()"),
            Type::Array(e) => write!(f, "[{}]", e.ty()),
            Type::Struct(s) if s.is_placeholder() => write!(f, "Self"),
            Type::Struct(s) => write!(f, "{}", s.name()),
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

/// A struct definition for display (`struct P { x: float, y: float }`), as `:list` shows it.
pub fn struct_text(id: StructId) -> String {
    let def = id.def();
    let fields: Vec<String> = def
        .fields
        .iter()
        .map(|(n, t)| format!("{n}: {t}"))
        .collect();
    format!("struct {} {{ {} }}", def.name, fields.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interning_is_structural() {
        let a = Type::Int.array_of().unwrap().array_of().unwrap();
        let b = Type::Int.array_of().unwrap().array_of().unwrap();
        assert_eq!(a, b);
        assert_eq!(a.to_string(), "[[int]]");
        let p = |y: Type| {
            StructId::intern(StructDef {
                name: "TP".into(),
                fields: vec![("x".into(), Type::Float), ("y".into(), y)],
            })
        };
        assert_eq!(p(Type::Float), p(Type::Float));
        assert_ne!(p(Type::Float), p(Type::Int));
        let node = StructId::intern(StructDef {
            name: "TNode".into(),
            fields: vec![(
                "kids".into(),
                Type::Struct(StructId::SELF).array_of().unwrap(),
            )],
        });
        assert_eq!(
            node.def().fields[0].1,
            Type::Struct(node).array_of().unwrap()
        );
        assert_eq!(struct_text(node), "struct TNode { kids: [TNode] }");
        let group = |extra: Type| {
            StructId::intern_group(vec![
                StructDef {
                    name: "TA".into(),
                    fields: vec![(
                        "bs".into(),
                        Type::Struct(StructId::member(1)).array_of().unwrap(),
                    )],
                },
                StructDef {
                    name: "TB".into(),
                    fields: vec![
                        (
                            "as_".into(),
                            Type::Struct(StructId::member(0)).array_of().unwrap(),
                        ),
                        ("v".into(), extra),
                    ],
                },
            ])
        };
        let g = group(Type::Int);
        assert_eq!(g, group(Type::Int));
        assert_ne!(g, group(Type::Float));
        assert_eq!(struct_text(g[0]), "struct TA { bs: [TB] }");
        assert_eq!(struct_text(g[1]), "struct TB { as_: [TA], v: int }");
        for t in [Type::Int, Type::Str, Type::Unit, a, Type::Struct(node)] {
            assert_eq!(Type::from_code(t.code()), t);
        }
        let mut names = std::collections::BTreeSet::new();
        Type::Struct(node)
            .array_of()
            .unwrap()
            .structs_in(&mut names);
        assert_eq!(names.into_iter().collect::<Vec<_>>(), vec!["TNode"]);
    }
}
