//! The reference evaluator: interprets the fuzzer's syntax tree with the semantics docs/language.md
//! specifies, in Rust's evaluation order (operands and arguments left to right; an assignment
//! evaluates its right-hand side first, then the place; `a[i]` evaluates `a`, then `i`, then
//! checks the bounds; `loop` runs until a `break`). Structs and arrays are shared by reference
//! (`Rc<RefCell<..>>`); `copy` and each element of `[e; n]` are shallow copies; `print` writes
//! a value met again while it is being printed (a cycle) as `...`.
//!
//! It never panics on a program the shrinker has broken: an unbound name, a wrong type, too
//! much work (fuel), too much output or too deep recursion make the result `Invalid`.

use super::ast::{
    BinOp, Block, Builtin, Expr, FnDef, Item, Place, PrintArg, Program, Stmt, StructDef, Ty, UnOp,
};
use std::cell::RefCell;
use std::collections::HashMap;
use std::fmt::Write as _;
use std::rc::Rc;

/// Steps (expressions, statements, loop iterations) one program may take.
pub const FUEL: u64 = 400_000;
/// The most output one program may write.
const MAX_OUTPUT: usize = 64 * 1024;
/// The longest str a program may build (see `binop`).
const MAX_STR: usize = 4096;
/// `binop`'s error for a str over [`MAX_STR`]: the program is invalid, not failing.
const TOO_LONG: &str = "\u{0}str too long";

/// The deepest call chain allowed (the language promises at least this much).
const MAX_DEPTH: u32 = 1000;

#[derive(Clone, Debug)]
pub enum Value {
    Int(i64),
    Float(f64),
    Bool(bool),
    Str(Rc<Vec<u8>>),
    Arr(Rc<RefCell<Vec<Value>>>),
    /// A struct: its name and its fields' values in definition order.
    Struct(Rc<str>, Rc<RefCell<Vec<(String, Value)>>>),
    Unit,
}

/// What a program is expected to do.
#[derive(Clone, Debug, PartialEq)]
pub struct Expected {
    pub stdout: String,
    /// The runtime error message (`error: MESSAGE`), if one stops the program.
    pub error: Option<String>,
}

/// Why evaluation left the normal path.
enum Flow {
    Ret(Value),
    Break,
    Continue,
    Error(String),
    Invalid(String),
}

type R<T> = Result<T, Flow>;

fn invalid<T>(why: &str) -> R<T> {
    Err(Flow::Invalid(why.to_string()))
}

/// The zero value of a type (what a global holds before its declaration runs): a struct of
/// its fields' zero values (an array is empty, so this ends).
pub fn zero(structs: &[StructDef], t: &Ty) -> Option<Value> {
    Some(match t {
        Ty::Int => Value::Int(0),
        Ty::Float => Value::Float(0.0),
        Ty::Bool => Value::Bool(false),
        Ty::Str => Value::Str(Rc::new(Vec::new())),
        Ty::Array(_) => Value::Arr(Rc::new(RefCell::new(Vec::new()))),
        Ty::Struct(name) => {
            let def = structs.iter().find(|d| &d.name == name)?;
            let mut fields = Vec::new();
            for (f, ft) in &def.fields {
                fields.push((f.clone(), zero(structs, ft)?));
            }
            Value::Struct(Rc::from(name.as_str()), Rc::new(RefCell::new(fields)))
        }
    })
}

/// Writes a value as `print` does; `false` if the text grew past [`MAX_OUTPUT`] (a value
/// shared many times over, printed in full, can be exponentially long).
pub fn show(out: &mut String, v: &Value) -> bool {
    let mut stack = Vec::new();
    show_at(out, v, false, &mut stack);
    out.len() <= MAX_OUTPUT
}

/// Writes a value as `print` does; strs inside arrays and structs (`nested`) are quoted as
/// Rust's `{:?}`; `stack` holds the arrays and structs being printed (met again: `...`).
fn show_at(out: &mut String, v: &Value, nested: bool, stack: &mut Vec<*const ()>) {
    if out.len() > MAX_OUTPUT {
        return;
    }
    match v {
        Value::Str(s) => {
            let text = String::from_utf8_lossy(s);
            if nested {
                let _ = write!(out, "{text:?}");
            } else {
                out.push_str(&text);
            }
        }
        Value::Int(i) => {
            let _ = write!(out, "{i}");
        }
        Value::Float(f) => {
            let _ = write!(out, "{f:?}");
        }
        Value::Bool(b) => {
            let _ = write!(out, "{b}");
        }
        Value::Arr(a) => {
            let id = Rc::as_ptr(a).cast::<()>();
            if stack.contains(&id) {
                out.push_str("...");
                return;
            }
            stack.push(id);
            out.push('[');
            for (k, x) in a.borrow().iter().enumerate() {
                if k > 0 {
                    out.push_str(", ");
                }
                show_at(out, x, true, stack);
            }
            out.push(']');
            stack.pop();
        }
        Value::Struct(name, fields) => {
            let id = Rc::as_ptr(fields).cast::<()>();
            if stack.contains(&id) {
                out.push_str("...");
                return;
            }
            stack.push(id);
            let _ = write!(out, "{name} {{ ");
            for (k, (f, x)) in fields.borrow().iter().enumerate() {
                if k > 0 {
                    out.push_str(", ");
                }
                let _ = write!(out, "{f}: ");
                show_at(out, x, true, stack);
            }
            out.push_str(" }");
            stack.pop();
        }
        Value::Unit => out.push_str("()"),
    }
}

struct Interp<'p> {
    structs: &'p [StructDef],
    fns: HashMap<&'p str, &'p FnDef>,
    globals: HashMap<String, Value>,
    out: String,
    fuel: u64,
    depth: u32,
}

/// Local scopes of one function activation (or of the top level).
#[derive(Default)]
struct Frame {
    scopes: Vec<Vec<(String, Value)>>,
}

/// Runs a program; `Err` if it is not a valid test (broken by shrinking, or too expensive).
pub fn run(p: &Program) -> Result<Expected, String> {
    let mut it = Interp {
        structs: &p.structs,
        fns: p.fns.iter().map(|f| (f.name.as_str(), f)).collect(),
        globals: HashMap::new(),
        out: String::new(),
        fuel: FUEL,
        depth: 0,
    };
    // Every global of the file holds its type's zero value until its declaration runs.
    for item in &p.items {
        if let Item::Global { name, ty, .. } = item {
            let Some(z) = zero(&p.structs, ty) else {
                return Err("unknown struct".into());
            };
            it.globals.insert(name.clone(), z);
        }
    }
    let mut frame = Frame {
        scopes: vec![Vec::new()],
    };
    let mut declared: Vec<&str> = Vec::new();
    for item in &p.items {
        let r = match item {
            Item::Global {
                is_let, name, init, ..
            } => {
                let v = it.eval(&mut frame, init);
                match v {
                    Ok(v) => {
                        // `global` assigns only when it defines the global.
                        if *is_let || !declared.contains(&name.as_str()) {
                            it.globals.insert(name.clone(), v);
                        }
                        declared.push(name);
                        Ok(())
                    }
                    Err(e) => Err(e),
                }
            }
            // A top-level `let` defines (or assigns) a global.
            Item::Stmt(Stmt::Let(name, _, _, init)) => it.eval(&mut frame, init).map(|v| {
                it.globals.insert(name.clone(), v);
            }),
            Item::Stmt(s) => it.exec(&mut frame, s),
        };
        match r {
            Ok(()) => {}
            Err(Flow::Error(msg)) => {
                return Ok(Expected {
                    stdout: it.out,
                    error: Some(msg),
                })
            }
            Err(Flow::Invalid(why)) => return Err(why),
            Err(_) => return Err("break, continue or return at the top level".into()),
        }
    }
    Ok(Expected {
        stdout: it.out,
        error: None,
    })
}

impl Frame {
    fn lookup(&self, name: &str) -> Option<&Value> {
        self.scopes
            .iter()
            .rev()
            .find_map(|s| s.iter().rev().find(|(n, _)| n == name).map(|(_, v)| v))
    }

    fn lookup_mut(&mut self, name: &str) -> Option<&mut Value> {
        self.scopes
            .iter_mut()
            .rev()
            .find_map(|s| s.iter_mut().rev().find(|(n, _)| n == name).map(|(_, v)| v))
    }
}

fn index(a: &Value, i: i64) -> R<(Rc<RefCell<Vec<Value>>>, usize)> {
    let Value::Arr(a) = a else {
        return invalid("indexing a non-array");
    };
    let n = a.borrow().len();
    if i < 0 || i as usize >= n {
        return Err(Flow::Error(format!(
            "index {i} out of range for length {n}"
        )));
    }
    Ok((a.clone(), i as usize))
}

fn as_int(v: &Value) -> R<i64> {
    match v {
        Value::Int(i) => Ok(*i),
        _ => invalid("expected an int"),
    }
}

/// The fields of struct value `v` and the position of field `name`.
type Fields = Rc<RefCell<Vec<(String, Value)>>>;

fn field(v: &Value, name: &str) -> R<(Fields, usize)> {
    let Value::Struct(_, fields) = v else {
        return invalid("field of a non-struct");
    };
    match fields.borrow().iter().position(|(f, _)| f == name) {
        Some(k) => Ok((fields.clone(), k)),
        None => invalid("unknown field"),
    }
}

/// A shallow copy of an array or struct (other values as they are).
fn shallow(v: &Value) -> Value {
    match v {
        Value::Arr(a) => Value::Arr(Rc::new(RefCell::new(a.borrow().clone()))),
        Value::Struct(n, f) => Value::Struct(n.clone(), Rc::new(RefCell::new(f.borrow().clone()))),
        v => v.clone(),
    }
}

fn as_bool(v: &Value) -> R<bool> {
    match v {
        Value::Bool(b) => Ok(*b),
        _ => invalid("expected a bool"),
    }
}

/// A binary operator other than `&&`/`||` on two values.
pub fn binop(op: BinOp, a: &Value, b: &Value) -> Result<Value, String> {
    use BinOp::*;
    Ok(match (a, b) {
        (Value::Int(x), Value::Int(y)) => {
            let (x, y) = (*x, *y);
            match op {
                Add => Value::Int(x.wrapping_add(y)),
                Sub => Value::Int(x.wrapping_sub(y)),
                Mul => Value::Int(x.wrapping_mul(y)),
                Div | Rem if y == 0 => return Err("division by zero".into()),
                Div => Value::Int(x.wrapping_div(y)),
                Rem => Value::Int(x.wrapping_rem(y)),
                Shl => Value::Int(x.wrapping_shl((y & 63) as u32)),
                Shr => Value::Int(x.wrapping_shr((y & 63) as u32)),
                BitAnd => Value::Int(x & y),
                BitXor => Value::Int(x ^ y),
                BitOr => Value::Int(x | y),
                Eq => Value::Bool(x == y),
                Ne => Value::Bool(x != y),
                Lt => Value::Bool(x < y),
                Le => Value::Bool(x <= y),
                Gt => Value::Bool(x > y),
                Ge => Value::Bool(x >= y),
                And | Or => return Err(String::new()),
            }
        }
        (Value::Float(x), Value::Float(y)) => {
            let (x, y) = (*x, *y);
            match op {
                Add => Value::Float(x + y),
                Sub => Value::Float(x - y),
                Mul => Value::Float(x * y),
                Div => Value::Float(x / y),
                Rem => Value::Float(x % y),
                Eq => Value::Bool(x == y),
                Ne => Value::Bool(x != y),
                Lt => Value::Bool(x < y),
                Le => Value::Bool(x <= y),
                Gt => Value::Bool(x > y),
                Ge => Value::Bool(x >= y),
                _ => return Err(String::new()),
            }
        }
        (Value::Str(x), Value::Str(y)) => match op {
            // Doubling a str in nested loops grows it exponentially: such a program is not a
            // useful test (and would exhaust memory), so it is invalid, like one out of fuel.
            Add if x.len() + y.len() > MAX_STR => return Err(TOO_LONG.into()),
            Add => Value::Str(Rc::new([x.as_slice(), y.as_slice()].concat())),
            Eq => Value::Bool(x == y),
            Ne => Value::Bool(x != y),
            Lt => Value::Bool(x < y),
            Le => Value::Bool(x <= y),
            Gt => Value::Bool(x > y),
            Ge => Value::Bool(x >= y),
            _ => return Err(String::new()),
        },
        (Value::Bool(x), Value::Bool(y)) => match op {
            Eq => Value::Bool(x == y),
            Ne => Value::Bool(x != y),
            _ => return Err(String::new()),
        },
        _ => return Err(String::new()),
    })
}

/// `binop` with an empty error meaning "ill-typed".
fn apply(op: BinOp, a: &Value, b: &Value) -> R<Value> {
    binop(op, a, b).map_err(|e| {
        if e == TOO_LONG {
            Flow::Invalid("str too long".to_string())
        } else if e.is_empty() {
            Flow::Invalid(format!("ill-typed {}", op.as_str()))
        } else {
            Flow::Error(e)
        }
    })
}

impl<'p> Interp<'p> {
    fn tick(&mut self) -> R<()> {
        if self.fuel == 0 {
            return invalid("out of fuel");
        }
        self.fuel -= 1;
        Ok(())
    }

    fn read(&self, f: &Frame, name: &str) -> R<Value> {
        match f.lookup(name).or_else(|| self.globals.get(name)) {
            Some(v) => Ok(v.clone()),
            None => invalid("unbound name"),
        }
    }

    fn write(&mut self, f: &mut Frame, name: &str, v: Value) -> R<()> {
        if let Some(slot) = f.lookup_mut(name) {
            *slot = v;
        } else if let Some(slot) = self.globals.get_mut(name) {
            *slot = v;
        } else {
            return invalid("unbound name");
        }
        Ok(())
    }

    fn block(&mut self, f: &mut Frame, b: &Block) -> R<Value> {
        f.scopes.push(Vec::new());
        let r = self.block_inner(f, b);
        f.scopes.pop();
        r
    }

    fn block_inner(&mut self, f: &mut Frame, b: &Block) -> R<Value> {
        for s in &b.stmts {
            self.exec(f, s)?;
        }
        match &b.tail {
            Some(t) => self.eval(f, t),
            None => Ok(Value::Unit),
        }
    }

    fn exec(&mut self, f: &mut Frame, s: &Stmt) -> R<()> {
        self.tick()?;
        match s {
            Stmt::Let(n, _, _, e) => {
                let v = self.eval(f, e)?;
                match f.scopes.last_mut() {
                    Some(scope) => scope.push((n.clone(), v)),
                    None => return invalid("no scope"),
                }
            }
            Stmt::Assign(place, op, e) => {
                // The right-hand side first, then the place (Rust's order).
                let v = self.eval(f, e)?;
                match place {
                    Place::Var(n) => {
                        let v = match op {
                            Some(op) => apply(*op, &self.read(f, n)?, &v)?,
                            None => v,
                        };
                        self.write(f, n, v)?;
                    }
                    Place::Index(a, i) => {
                        let a = self.eval(f, a)?;
                        let i = as_int(&self.eval(f, i)?)?;
                        let (a, i) = index(&a, i)?;
                        let v = match op {
                            Some(op) => {
                                let old = a.borrow()[i].clone();
                                apply(*op, &old, &v)?
                            }
                            None => v,
                        };
                        a.borrow_mut()[i] = v;
                    }
                    Place::Field(b, name) => {
                        let b = self.eval(f, b)?;
                        let (fields, k) = field(&b, name)?;
                        let v = match op {
                            Some(op) => {
                                let old = fields.borrow()[k].1.clone();
                                apply(*op, &old, &v)?
                            }
                            None => v,
                        };
                        fields.borrow_mut()[k].1 = v;
                    }
                }
            }
            Stmt::Call(name, args) => {
                self.call(f, name, args)?;
            }
            Stmt::If(c, t, e) => {
                if as_bool(&self.eval(f, c)?)? {
                    self.block(f, t)?;
                } else if let Some(e) = e {
                    self.block(f, e)?;
                }
            }
            Stmt::While(c, b) => {
                while as_bool(&self.eval(f, c)?)? {
                    self.tick()?;
                    match self.block(f, b) {
                        Ok(_) | Err(Flow::Continue) => {}
                        Err(Flow::Break) => break,
                        Err(e) => return Err(e),
                    }
                }
            }
            Stmt::Loop(b) => loop {
                self.tick()?;
                match self.block(f, b) {
                    Ok(_) | Err(Flow::Continue) => {}
                    Err(Flow::Break) => break,
                    Err(e) => return Err(e),
                }
            },
            Stmt::For(v, lo, hi, b) => {
                let lo = as_int(&self.eval(f, lo)?)?;
                let hi = as_int(&self.eval(f, hi)?)?;
                let mut i = lo;
                while i < hi {
                    self.tick()?;
                    f.scopes.push(vec![(v.clone(), Value::Int(i))]);
                    let r = self.block(f, b);
                    f.scopes.pop();
                    match r {
                        Ok(_) | Err(Flow::Continue) => {}
                        Err(Flow::Break) => break,
                        Err(e) => return Err(e),
                    }
                    i += 1;
                }
            }
            Stmt::Print(args) => {
                // Like any call: every argument first, left to right, then the output (a later
                // argument may change a value an earlier one shares).
                let mut vals = Vec::with_capacity(args.len());
                for a in args {
                    vals.push(match a {
                        PrintArg::Label(l) => Value::Str(Rc::new(l.as_bytes().to_vec())),
                        PrintArg::Expr(e) => self.eval(f, e)?,
                    });
                }
                let mut line = String::new();
                for (k, v) in vals.iter().enumerate() {
                    if k > 0 {
                        line.push(' ');
                    }
                    if !show(&mut line, v) {
                        return invalid("too much output");
                    }
                }
                self.out.push_str(&line);
                self.out.push('\n');
                if self.out.len() > MAX_OUTPUT {
                    return invalid("too much output");
                }
            }
            Stmt::Assert(c) => {
                if !as_bool(&self.eval(f, c)?)? {
                    return Err(Flow::Error("assertion failed".into()));
                }
            }
            Stmt::Return(v) => {
                let v = match v {
                    Some(e) => self.eval(f, e)?,
                    None => Value::Unit,
                };
                return Err(Flow::Ret(v));
            }
            Stmt::Break => return Err(Flow::Break),
            Stmt::Continue => return Err(Flow::Continue),
        }
        Ok(())
    }

    fn call(&mut self, f: &mut Frame, name: &str, args: &[Expr]) -> R<Value> {
        let mut vals = Vec::with_capacity(args.len());
        for a in args {
            vals.push(self.eval(f, a)?);
        }
        let Some(def) = self.fns.get(name).copied() else {
            return invalid("unknown function");
        };
        if def.params.len() != vals.len() {
            return invalid("arity");
        }
        if self.depth >= MAX_DEPTH {
            return invalid("too deep");
        }
        self.depth += 1;
        let mut frame = Frame {
            scopes: vec![def
                .params
                .iter()
                .map(|(n, _)| n.clone())
                .zip(vals)
                .collect()],
        };
        let r = self.block(&mut frame, &def.body);
        self.depth -= 1;
        match r {
            Ok(v) | Err(Flow::Ret(v)) => Ok(v),
            Err(Flow::Break | Flow::Continue) => invalid("break outside a loop"),
            Err(e) => Err(e),
        }
    }

    fn eval(&mut self, f: &mut Frame, e: &Expr) -> R<Value> {
        self.tick()?;
        Ok(match e {
            Expr::Int(v) => Value::Int(*v),
            Expr::Str(s) => Value::Str(Rc::new(s.clone())),
            Expr::Float(v) => Value::Float(*v),
            Expr::Bool(v) => Value::Bool(*v),
            Expr::Var(n, _) => self.read(f, n)?,
            Expr::Unary(op, a, _) => match (op, self.eval(f, a)?) {
                (UnOp::Neg, Value::Int(i)) => Value::Int(i.wrapping_neg()),
                (UnOp::Neg, Value::Float(x)) => Value::Float(-x),
                (UnOp::Not, Value::Bool(b)) => Value::Bool(!b),
                _ => return invalid("ill-typed unary"),
            },
            Expr::Binary(BinOp::And, a, b, _) => {
                Value::Bool(as_bool(&self.eval(f, a)?)? && as_bool(&self.eval(f, b)?)?)
            }
            Expr::Binary(BinOp::Or, a, b, _) => {
                Value::Bool(as_bool(&self.eval(f, a)?)? || as_bool(&self.eval(f, b)?)?)
            }
            Expr::Binary(op, a, b, _) => {
                let a = self.eval(f, a)?;
                let b = self.eval(f, b)?;
                apply(*op, &a, &b)?
            }
            Expr::Call(name, args, _) => self.call(f, name, args)?,
            Expr::Builtin(b, a, _) => match (b, self.eval(f, a)?) {
                (Builtin::Len, Value::Arr(a)) => Value::Int(a.borrow().len() as i64),
                (Builtin::Copy, v @ (Value::Arr(_) | Value::Struct(..))) => shallow(&v),
                (Builtin::Float, Value::Int(i)) => Value::Float(i as f64),
                // `as` saturates and maps NaN to 0, as docs/language.md specifies for `int()`.
                (Builtin::Int, Value::Float(x)) => Value::Int(x as i64),
                (Builtin::Sqrt, Value::Float(x)) => Value::Float(x.sqrt()),
                (Builtin::Len, Value::Str(s)) => Value::Int(s.len() as i64),
                (Builtin::ToStr, v) => {
                    let mut text = String::new();
                    if !show(&mut text, &v) || text.len() > MAX_STR {
                        return invalid("str too long");
                    }
                    Value::Str(Rc::new(text.into_bytes()))
                }
                (Builtin::Trim, Value::Str(s)) => Value::Str(Rc::new(s.trim_ascii().to_vec())),
                (Builtin::Abs, Value::Int(i)) => Value::Int(i.wrapping_abs()),
                (Builtin::Abs, Value::Float(x)) => Value::Float(x.abs()),
                _ => return invalid("ill-typed builtin"),
            },
            Expr::Index(a, i, _) => {
                let a = self.eval(f, a)?;
                let i = as_int(&self.eval(f, i)?)?;
                let (a, i) = index(&a, i)?;
                let v = a.borrow()[i].clone();
                v
            }
            Expr::List(xs, _) => {
                let mut v = Vec::with_capacity(xs.len());
                for x in xs {
                    v.push(self.eval(f, x)?);
                }
                Value::Arr(Rc::new(RefCell::new(v)))
            }
            Expr::Repeat(x, n, _) => {
                let x = self.eval(f, x)?;
                let n = as_int(&self.eval(f, n)?)?;
                if n < 0 {
                    return Err(Flow::Error(format!("negative array length {n}")));
                }
                if n > 10_000 {
                    return invalid("array too large for a test");
                }
                self.fuel = self.fuel.saturating_sub(n as u64);
                // Each element of an array of arrays or structs is its own shallow copy.
                let elems = (0..n).map(|_| shallow(&x)).collect();
                Value::Arr(Rc::new(RefCell::new(elems)))
            }
            Expr::If(c, t, e, _) => {
                if as_bool(&self.eval(f, c)?)? {
                    self.block(f, t)?
                } else {
                    self.block(f, e)?
                }
            }
            Expr::Block(b, _) => self.block(f, b)?,
            Expr::Return(v, _) => {
                let v = match v {
                    Some(e) => self.eval(f, e)?,
                    None => Value::Unit,
                };
                return Err(Flow::Ret(v));
            }
            Expr::StructLit(name, given, _) => {
                // The fields in the order written, stored in the definition's order.
                let mut vals = Vec::with_capacity(given.len());
                for (fname, x) in given {
                    vals.push((fname, self.eval(f, x)?));
                }
                let Some(def) = self.structs.iter().find(|d| &d.name == name) else {
                    return invalid("unknown struct");
                };
                if def.fields.len() != vals.len() {
                    return invalid("struct literal fields");
                }
                let mut fields = Vec::with_capacity(vals.len());
                for (fname, _) in &def.fields {
                    let Some(k) = vals.iter().position(|(g, _)| *g == fname) else {
                        return invalid("struct literal fields");
                    };
                    fields.push((fname.clone(), vals[k].1.clone()));
                }
                Value::Struct(Rc::from(name.as_str()), Rc::new(RefCell::new(fields)))
            }
            Expr::Field(b, name, _) => {
                let b = self.eval(f, b)?;
                let (fields, k) = field(&b, name)?;
                let v = fields.borrow()[k].1.clone();
                v
            }
        })
    }
}
