//! Stage 3 of a transaction: the only place that changes the registry and stores slots.
//!
//! Called with the registry lock held and a [`LinkedSet`] that compiled completely. Order:
//! registry first (so the code map knows every new address), then one atomic store per slot,
//! then a new epoch so tasks publish what they are running, then the (re)definition events —
//! still under the registry lock, which the reclaimer needs to free a replaced version, so a
//! `Freed` event can never precede the `Defined` event of the version that replaced it.

use super::compile::LinkedSet;
use super::plan::Plan;
use crate::session::{Event, Reporter};
use crate::tier::TierUp;
use crate::versions::{next_id, CodeInfo, Compiled, FnEntry, NewUnit, Registry, Source, Version};
use crate::{slots, tasks};
use livejit_frontend::tast::TProgram;
use livejit_frontend::Span;
use std::sync::Arc;

/// What the commit hands back.
pub(crate) struct Committed {
    /// Entry address and version id of the top-level unit to run, if any.
    pub top: Option<(usize, u64)>,
    /// Monotonic time just before the slot stores (the start of swap latency).
    pub stored_ns: i64,
    /// The installed fast-tier functions to optimize in the background, in definition order.
    pub tier_ups: Vec<TierUp>,
}

/// 1-based line of a byte offset.
pub fn line_of(text: &str, offset: usize) -> usize {
    text[..offset.min(text.len())].matches('\n').count() + 1
}

fn origin(source: &Arc<Source>, span: Span) -> String {
    let (source, span) = source.locate(span);
    if source.name.starts_with('<') {
        source.name.clone()
    } else {
        format!("{}:{}", source.name, line_of(&source.text, span.start))
    }
}

/// Installs `set` (see the module doc).
pub(crate) fn commit(
    reg: &mut Registry,
    mut set: LinkedSet,
    program: &TProgram,
    source: &Arc<Source>,
    plan: &Plan,
    report: &Reporter,
) -> Committed {
    set.keep_allocations();
    let calls_slots = |calls: &std::collections::BTreeSet<String>| -> Vec<usize> {
        calls.iter().map(|c| set.slot_map[c]).collect()
    };
    let mut installed = Vec::new();
    let mut replaced = Vec::new();
    let mut tier_ups = Vec::new();
    for (index, unit) in std::mem::take(&mut set.fns) {
        let f = &program.fns[index];
        let p = &plan.fns[index];
        let n = p.version.expect("compiled units have a version");
        let slot = set.slots[index];
        let addr = unit.code.addr;
        let info = Arc::new(CodeInfo {
            id: next_id(),
            name: f.name.clone(),
            n,
            source: source.clone(),
            start: addr,
            size: unit.code.size,
            span: f.span,
        });
        // Calls may inline this version: its inlined copies name it by this identity. Set
        // before any slot store, so before any code inlining it can run.
        reg.inline.remove(&f.name);
        if let Some(body) = set.inline.get(&f.name) {
            body.site.set(info.clone());
            reg.inline.insert(f.name.clone(), body.clone());
        }
        if let Some(level) = unit.tier_up {
            tier_ups.push(TierUp {
                name: f.name.clone(),
                id: info.id,
                symbol: format!("{}$v{n}", f.name),
                bitcode: unit.bitcode.clone(),
                level,
            });
        }
        let version = Version {
            unit: Compiled::live(
                NewUnit {
                    info,
                    calls_slots: calls_slots(&f.calls),
                    calls: f.calls.clone(),
                    globals: f.globals.clone(),
                    bitcode: unit.bitcode,
                    tier: unit.tier,
                    level: unit.level,
                },
                unit.code,
            ),
            sig: f.sig.clone(),
            text: source.text[f.span.start..f.span.end].to_string(),
            origin: origin(source, f.span),
            slot,
            structs: f.structs.clone(),
            layouts: f
                .structs
                .iter()
                .filter_map(|name| {
                    let id = program
                        .structs
                        .iter()
                        .find(|s| &s.name == name)
                        .map(|s| s.id)
                        .or_else(|| reg.structs.get(name).copied())?;
                    Some((name.clone(), id))
                })
                .collect(),
        };
        let entry = reg.fns.entry(f.name.clone()).or_insert_with(|| FnEntry {
            slot,
            versions: Vec::new(),
        });
        if !entry.versions.is_empty() {
            replaced.push(f.name.clone());
        }
        entry.slot = slot;
        entry.versions.push(version);
        installed.push((f.name.clone(), n, slot, addr));
    }
    let top = set.top.take().map(|(id, unit)| {
        let addr = unit.code.addr;
        let info = Arc::new(CodeInfo {
            id,
            name: source.name.clone(),
            n: 0,
            source: source.clone(),
            start: addr,
            size: unit.code.size,
            span: Span::new(0, source.text.len()),
        });
        reg.tops.push(Compiled::live(
            NewUnit {
                info,
                calls_slots: calls_slots(&program.top.calls),
                calls: program.top.calls.clone(),
                globals: program.top.globals.clone(),
                bitcode: unit.bitcode,
                tier: unit.tier,
                level: unit.level,
            },
            unit.code,
        ));
        (addr, id)
    });
    for (name, g) in &set.globals {
        reg.globals.insert(name.clone(), *g);
    }
    for s in &program.structs {
        reg.structs.insert(s.name.clone(), s.id);
    }
    let stored_ns = crate::runtime::monotonic_ns();
    for (_, n, slot, addr) in &installed {
        // SAFETY: `addr` is the entry of a version compiled for this slot's signature (the plan
        // gives a new signature a new slot); its `Code` now lives in the registry, freed only
        // by the retirement protocol.
        unsafe { slots::store(*slot, *addr) };
        // The code first, its version number second (what inlined call sites guard on), both
        // before the epoch below: a task that publishes for that epoch sees both.
        slots::store_version(*slot, u64::from(*n));
    }
    let epoch = tasks::request_scan();
    for name in &replaced {
        let versions = &mut reg.fns.get_mut(name).expect("just installed").versions;
        let before_new = versions.len() - 1;
        for v in &mut versions[..before_new] {
            v.unit.retire(epoch);
        }
    }
    for (name, version, _, _) in installed {
        report(Event::Defined { name, version });
    }
    Committed {
        top,
        stored_ns,
        tier_ups,
    }
}
