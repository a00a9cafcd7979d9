//! Stage 1 of a transaction: decide, without touching anything, what the transaction will do.
//!
//! [`plan`] is a pure function of a [`Snapshot`] of the registry and a checked program: which
//! functions get a new version (identical source makes none), which need a new slot (new
//! functions and signature changes), which globals get a new cell (new globals and type
//! changes), and whether signature and global type changes are allowed (every caller, or every
//! user, must be in the transaction). It allocates nothing, so it can be tested without LLVM.

use livejit_frontend::tast::{TProgram, TTopItem};
use livejit_frontend::typeck::Env;
use livejit_frontend::types::StructId;
use livejit_frontend::{Diagnostic, FnSig, Span, Type};
use std::collections::{BTreeMap, BTreeSet};

/// What the plan needs to know about one function of the session (its live version).
#[derive(Clone, Debug)]
pub(crate) struct FnRow {
    /// The slot callers compiled now go through.
    pub slot: usize,
    /// The live version's signature.
    pub sig: FnSig,
    /// The live version's item text.
    pub text: String,
    /// Functions the live version calls.
    pub calls: BTreeSet<String>,
    /// Globals the live version uses.
    pub globals: BTreeSet<String>,
    /// Structs the live version uses.
    pub structs: BTreeSet<String>,
    /// How many versions exist (the next one is this plus one).
    pub versions: u32,
}

/// A global of the session: its cell and type.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Global {
    /// Address of its 8-byte cell (GC root).
    pub addr: usize,
    /// Its type.
    pub ty: Type,
}

/// The registry as a transaction sees it (taken under the registry lock, used without it).
#[derive(Clone, Debug, Default)]
pub(crate) struct Snapshot {
    /// Functions by name.
    pub fns: BTreeMap<String, FnRow>,
    /// Globals by name.
    pub globals: BTreeMap<String, Global>,
    /// Current struct definitions by name.
    pub structs: BTreeMap<String, StructId>,
    /// Functions whose signature a running service relies on (it calls them through their
    /// slot with that ABI).
    pub pinned: Vec<(String, FnSig)>,
    /// Live versions that calls may inline, by function name (`inline.rs`).
    pub inline: BTreeMap<String, std::sync::Arc<crate::inline::InlineBody>>,
}

impl Env for Snapshot {
    fn function(&self, name: &str) -> Option<FnSig> {
        self.fns.get(name).map(|f| f.sig.clone())
    }
    fn global(&self, name: &str) -> Option<Type> {
        self.globals.get(name).map(|g| g.ty)
    }
    fn structure(&self, name: &str) -> Option<StructId> {
        self.structs.get(name).copied()
    }
    fn structure_names(&self) -> Vec<String> {
        self.structs.keys().cloned().collect()
    }
}

/// Where a function of the transaction will live.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum SlotPlan {
    /// Its current slot (same signature).
    Existing(usize),
    /// A fresh slot (a new function, or a signature change).
    New,
}

/// What the transaction does with one function of the program.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct FnPlan {
    /// Index into `TProgram::fns`.
    pub index: usize,
    /// New version number, or `None` when nothing changed (no new version).
    pub version: Option<u32>,
    /// Its slot.
    pub slot: SlotPlan,
}

/// The decisions of one transaction.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Plan {
    /// One entry per function of the program, in program order.
    pub fns: Vec<FnPlan>,
    /// Globals that get a fresh cell (new, or retyped), with their types.
    pub new_globals: Vec<(String, Type)>,
}

/// Live functions outside the transaction whose live version satisfies `uses`.
fn users_outside(
    snap: &Snapshot,
    uses: impl Fn(&FnRow) -> bool,
    in_tx: &BTreeSet<&str>,
) -> Vec<String> {
    snap.fns
        .iter()
        .filter(|(name, f)| !in_tx.contains(name.as_str()) && uses(f))
        .map(|(name, _)| name.clone())
        .collect()
}

fn quote_list(names: &[String]) -> String {
    names
        .iter()
        .map(|n| format!("`{n}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Decides versions, slots and global cells for `program` (checked against `snap`, parsed
/// from `text`), or explains why the transaction is rejected.
pub(crate) fn plan(
    snap: &Snapshot,
    program: &TProgram,
    text: &str,
) -> Result<Plan, Vec<Diagnostic>> {
    let in_tx: BTreeSet<&str> = program.fns.iter().map(|f| f.name.as_str()).collect();
    let mut errors = Vec::new();
    // A running service calls a pinned function with the pinned signature: it may not change.
    for f in &program.fns {
        let Some((_, pinned)) = snap.pinned.iter().find(|(n, _)| *n == f.name) else {
            continue;
        };
        if *pinned != f.sig {
            errors.push(
                Diagnostic::error(
                    format!(
                        "cannot change the signature of `{}` from `{pinned}` to `{}` while the service calls it",
                        f.name, f.sig
                    ),
                    f.name_span,
                    "signature changed here",
                )
                .with_note(format!(
                    "`livejit serve` calls `{}` for every request; keep its signature `{pinned}`",
                    f.name
                )),
            );
        }
    }
    // Signature changes: every caller must be in this transaction.
    let mut sig_changed: BTreeSet<&str> = BTreeSet::new();
    for f in &program.fns {
        let Some(old) = snap.fns.get(&f.name) else {
            continue;
        };
        if old.sig == f.sig {
            continue;
        }
        sig_changed.insert(&f.name);
        let callers = users_outside(snap, |v| v.calls.contains(&f.name), &in_tx);
        if !callers.is_empty() {
            errors.push(
                Diagnostic::error(
                    format!(
                        "cannot change the signature of `{}` from `{}` to `{}`: its callers {} are not redefined with it",
                        f.name, old.sig, f.sig, quote_list(&callers)
                    ),
                    f.name_span,
                    "signature changed here",
                )
                .with_note("redefine the callers in the same input or file"),
            );
        }
    }
    // Global declarations whose type is new or changed.
    let mut new_globals: Vec<(String, Type)> = Vec::new();
    for item in &program.top.items {
        let TTopItem::Global {
            name,
            ty,
            name_span,
            ..
        } = item
        else {
            continue;
        };
        if new_globals.iter().any(|(n, _)| n == name) {
            continue;
        }
        match snap.globals.get(name) {
            Some(g) if g.ty == *ty => {}
            Some(g) => {
                let users = users_outside(snap, |v| v.globals.contains(name), &in_tx);
                if users.is_empty() {
                    new_globals.push((name.clone(), *ty));
                } else {
                    errors.push(Diagnostic::error(
                        format!(
                            "cannot change the type of global `{name}` from `{}` to `{ty}`: it is used by {}",
                            g.ty,
                            quote_list(&users)
                        ),
                        *name_span,
                        "type changed here",
                    ));
                }
            }
            None => new_globals.push((name.clone(), *ty)),
        }
    }
    // Struct changes: every function that uses a changed struct must be redefined here, and
    // every global whose type contains it must be assigned by a top-level `let` here.
    let changed: Vec<&livejit_frontend::tast::TStruct> = program
        .structs
        .iter()
        .filter(|s| snap.structs.get(&s.name).is_some_and(|old| *old != s.id))
        .collect();
    let changed_names: BTreeSet<&str> = changed.iter().map(|s| s.name.as_str()).collect();
    let item_span = changed
        .iter()
        .find_map(|s| s.span)
        .unwrap_or(Span::new(0, 0));
    let assigned: BTreeSet<&str> = program
        .top
        .items
        .iter()
        .filter_map(|i| match i {
            TTopItem::Global {
                is_let: true, name, ..
            } => Some(name.as_str()),
            _ => None,
        })
        .collect();
    for s in &changed {
        let users = users_outside(snap, |v| v.structs.contains(&s.name), &in_tx);
        let holders: Vec<String> = snap
            .globals
            .iter()
            .filter(|(name, g)| {
                let mut inside = BTreeSet::new();
                g.ty.structs_in(&mut inside);
                inside.contains(&s.name) && !assigned.contains(name.as_str())
            })
            .map(|(name, _)| name.clone())
            .collect();
        if users.is_empty() && holders.is_empty() {
            continue;
        }
        let mut missing = Vec::new();
        if !users.is_empty() {
            missing.push(format!(
                "the functions {} that use it are not redefined",
                quote_list(&users)
            ));
        }
        if !holders.is_empty() {
            missing.push(format!(
                "the globals {} that hold it are not assigned by a top-level `let`",
                quote_list(&holders)
            ));
        }
        let what = if s.span.is_some() {
            format!("cannot change the fields of struct `{}`", s.name)
        } else {
            format!(
                "cannot change struct `{}` (it contains a changed struct)",
                s.name
            )
        };
        errors.push(
            Diagnostic::error(
                format!("{what}: {}", missing.join(", and ")),
                s.span.unwrap_or(item_span),
                "fields changed here",
            )
            .with_note(
                "a struct change must come with everything that uses it, in the same input or file",
            ),
        );
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    let retyped: BTreeSet<&str> = new_globals
        .iter()
        .filter(|(n, _)| snap.globals.contains_key(n))
        .map(|(n, _)| n.as_str())
        .collect();
    let mut fns = Vec::new();
    for (index, f) in program.fns.iter().enumerate() {
        let existing = snap.fns.get(&f.name);
        let same_text = existing.is_some_and(|e| e.text == text[f.span.start..f.span.end]);
        // Code must be regenerated when a callee moves to a new slot or a global it uses gets
        // a new cell, even if its own text is identical.
        let deps_moved = f.calls.iter().any(|c| sig_changed.contains(c.as_str()))
            || f.globals.iter().any(|g| retyped.contains(g.as_str()))
            || f.structs.iter().any(|s| changed_names.contains(s.as_str()));
        let slot = match existing {
            Some(e) if !sig_changed.contains(f.name.as_str()) => SlotPlan::Existing(e.slot),
            _ => SlotPlan::New,
        };
        let version = if same_text && !deps_moved && slot != SlotPlan::New {
            None
        } else {
            Some(existing.map_or(1, |e| e.versions + 1))
        };
        fns.push(FnPlan {
            index,
            version,
            slot,
        });
    }
    Ok(Plan { fns, new_globals })
}

#[cfg(test)]
mod tests {
    use super::*;
    use livejit_frontend::compile_front;

    /// A snapshot from source text: each function as if its v1 were live in slot 100 + i.
    fn snapshot(text: &str, globals: &[(&str, Type)]) -> Snapshot {
        let mut snap = Snapshot::default();
        for (i, (name, ty)) in globals.iter().enumerate() {
            let g = Global {
                addr: 0x1000 + 8 * i,
                ty: *ty,
            };
            snap.globals.insert(name.to_string(), g);
        }
        let program = compile_front(text, &snap).expect("snapshot source checks");
        for (i, f) in program.fns.iter().enumerate() {
            snap.fns.insert(
                f.name.clone(),
                FnRow {
                    slot: 100 + i,
                    sig: f.sig.clone(),
                    text: text[f.span.start..f.span.end].to_string(),
                    calls: f.calls.clone(),
                    globals: f.globals.clone(),
                    structs: f.structs.clone(),
                    versions: 1,
                },
            );
        }
        snap
    }

    fn plan_of(snap: &Snapshot, text: &str) -> Result<Plan, Vec<String>> {
        let program = compile_front(text, snap).expect("transaction source checks");
        plan(snap, &program, text).map_err(|d| d.into_iter().map(|d| d.message).collect())
    }

    #[test]
    fn new_functions_get_v1_and_a_new_slot() {
        let p = plan_of(&Snapshot::default(), "fn f() -> int { 1 }").unwrap();
        assert_eq!(
            p.fns,
            vec![FnPlan {
                index: 0,
                version: Some(1),
                slot: SlotPlan::New
            }]
        );
    }

    #[test]
    fn identical_source_makes_no_version_and_a_change_keeps_the_slot() {
        let snap = snapshot("fn f() -> int { 1 }", &[]);
        let p = plan_of(&snap, "fn f() -> int { 1 }").unwrap();
        assert_eq!(p.fns[0].version, None);
        assert_eq!(p.fns[0].slot, SlotPlan::Existing(100));
        let p = plan_of(&snap, "fn f() -> int { 2 }").unwrap();
        assert_eq!(p.fns[0].version, Some(2));
        assert_eq!(p.fns[0].slot, SlotPlan::Existing(100));
    }

    #[test]
    fn a_signature_change_needs_its_callers_and_moves_them() {
        let snap = snapshot("fn f(x: int) -> int { x }\nfn g() -> int { f(1) }", &[]);
        let e = plan_of(&snap, "fn f(x: int, y: int) -> int { x + y }").unwrap_err();
        assert_eq!(e.len(), 1);
        assert!(e[0].contains("its callers `g` are not redefined"), "{e:?}");
        let p = plan_of(
            &snap,
            "fn f(x: int, y: int) -> int { x + y }\nfn g() -> int { f(1, 2) }",
        )
        .unwrap();
        assert_eq!(p.fns[0].slot, SlotPlan::New);
        assert_eq!(p.fns[1].slot, SlotPlan::Existing(101));
        assert_eq!(p.fns[1].version, Some(2));
    }

    #[test]
    fn an_unchanged_caller_of_a_moved_callee_is_recompiled() {
        let snap = snapshot("fn f(x: int) -> int { x }\nfn g() -> int { f(1) }", &[]);
        // `g`'s text is unchanged, but `f` moves to a new slot: `g` must be regenerated.
        let p = plan_of(&snap, "fn f() -> int { 1 }\nfn g() -> int { f() }").unwrap();
        assert_eq!(p.fns[1].version, Some(2));
    }

    #[test]
    fn globals_new_same_and_retyped() {
        let snap = snapshot("fn uses() -> int { n }", &[("n", Type::Int)]);
        let p = plan_of(&snap, "global n: int = 5;\nglobal m = 1.5;").unwrap();
        assert_eq!(p.new_globals, vec![("m".to_string(), Type::Float)]);
        let e = plan_of(&snap, "global n: float = 5.0;").unwrap_err();
        assert!(e[0].contains("it is used by `uses`"), "{e:?}");
        let snap = snapshot("", &[("n", Type::Int)]);
        let p = plan_of(&snap, "global n: float = 5.0;").unwrap();
        assert_eq!(p.new_globals, vec![("n".to_string(), Type::Float)]);
    }

    #[test]
    fn a_pinned_signature_cannot_change_but_its_body_can() {
        let mut snap = snapshot("fn handle(m: str, p: str, b: str) -> str { p }", &[]);
        let sig = snap.fns["handle"].sig.clone();
        snap.pinned.push(("handle".into(), sig));
        let e = plan_of(&snap, "fn handle(p: str) -> str { p }").unwrap_err();
        assert_eq!(e.len(), 1);
        assert!(
            e[0].contains("cannot change the signature of `handle` from `fn(str, str, str) -> str` to `fn(str) -> str` while the service calls it"),
            "{e:?}"
        );
        let p = plan_of(&snap, "fn handle(m: str, p: str, b: str) -> str { m }").unwrap();
        assert_eq!(p.fns[0].slot, SlotPlan::Existing(100));
        assert_eq!(p.fns[0].version, Some(2));
    }
}
