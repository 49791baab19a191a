//! The backward pass: one walk of the tape from the output back to the start.
//!
//! Each node is visited after every node that consumed it (a node is always recorded after
//! its inputs), so when the walk reaches a node its gradient is complete, summed over every
//! use. The node's closure then turns it into its inputs' gradients, which are added into
//! theirs. A leaf has no closure: its gradient is done, and what happens to it is up to the
//! caller ([`Var::backward`] keeps every leaf's gradient; [`Var::backward_to_params`] hands
//! each parameter's to the caller at once, so an optimiser can update it there while the
//! walk frees what the ops already walked had saved).

use super::{Backward, Param, ParamId, Var};
use crate::error::{Error, Result};
use crate::tensor::Tensor;
use std::collections::HashMap;

/// What to do with the closures the walk runs.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Closures {
    /// Keep them: the tape can be walked again (another seed, another output).
    Keep,
    /// Drop each once it has run, with the values it holds (the tape is spent, as after
    /// [`Graph::release`](super::Graph::release)).
    Drop,
}

impl Var {
    /// Gradients of this scalar with respect to every leaf (seed 1).
    pub fn backward(&self) -> Result<Grads> {
        self.backward_with(self.unit_seed("backward")?)
    }

    /// Gradients of `<seed, self>` with respect to every leaf.
    pub fn backward_with(&self, seed: Tensor) -> Result<Grads> {
        let kept = self.walk(seed, Closures::Keep, &mut |_, g| Ok(Some(g)))?;
        Ok(Grads { grads: kept, params: self.graph.0.params.borrow().clone() })
    }

    /// Backward from this scalar (seed 1) that hands each parameter's gradient to
    /// `on_param(index into params, gradient)` as soon as it is complete, instead of keeping
    /// them all to the end. Parameters that get no gradient (not used, or frozen) are not
    /// called. Each op's closure is dropped once it has run, with the values it saved, as
    /// [`Graph::release`](super::Graph::release) does: every op that used a parameter was
    /// recorded after it and has run when it is handed over, so no closure on the walk's path
    /// still holds its values (an optimiser updates them in place; closures the walk never
    /// reaches are dropped by `release` only). The tape cannot be walked again; retained
    /// gradients ([`Var::retain_grad`]) are not kept.
    ///
    /// The gradients are the bits [`Var::backward`] gives; only the moment each is known
    /// changes. An error from an op or from `on_param` stops the walk: parameters already
    /// handed over stay handed over.
    pub fn backward_to_params(&self, params: &[ParamId], mut on_param: impl FnMut(usize, Tensor) -> Result<()>) -> Result<()> {
        let seed = self.unit_seed("backward_to_params")?;
        let index: HashMap<usize, usize> = {
            let nodes = self.graph.0.params.borrow();
            params.iter().enumerate().filter_map(|(i, p)| nodes.get(p).map(|&node| (node, i))).collect()
        };
        self.walk(seed, Closures::Drop, &mut |node, g| {
            if let Some(&i) = index.get(&node) {
                on_param(i, g)?;
            }
            Ok(None)
        })?;
        Ok(())
    }

    /// A seed of ones for a scalar output; the error names `op` for any other shape.
    fn unit_seed(&self, op: &'static str) -> Result<Tensor> {
        if self.value.len() != 1 {
            return Err(Error::Shape {
                op,
                lhs: self.shape().to_vec(),
                rhs: vec![],
                detail: "backward needs a scalar; use backward_with(seed) for other shapes".into(),
            });
        }
        Ok(Tensor::full(self.shape(), 1.0))
    }

    /// Walks the tape from this node back to the start with `seed` as this node's gradient.
    /// A complete gradient of a node without a closure (a leaf) goes to `leaf(node, grad)`,
    /// which returns what to keep of it; retained values' gradients are kept too when the
    /// closures are (a walk that drops them is the tape's last, and nobody reads them). Returns
    /// the kept gradients by node.
    fn walk(&self, seed: Tensor, closures: Closures, leaf: &mut dyn FnMut(usize, Tensor) -> Result<Option<Tensor>>) -> Result<HashMap<usize, Tensor>> {
        if seed.shape() != self.shape() {
            return Err(Error::shape("backward_with", self.shape(), seed.shape()));
        }
        let tape = &self.graph.0;
        let mut kept = HashMap::new();
        let Some(out) = self.id else { return Ok(kept) };
        let mut grads: Vec<Option<Tensor>> = vec![None; out + 1];
        grads[out] = Some(seed);
        for i in (0..=out).rev() {
            let Some(g) = grads[i].take() else { continue };
            // The closure is taken out of the tape while it runs (no borrow of the tape is held
            // then) and put back unless the walk drops them.
            let (op, parents, needs, retain, bw) = {
                let mut nodes = tape.nodes.borrow_mut();
                let bw = nodes[i].backward.take();
                let node = &nodes[i];
                let needs: Vec<bool> = node.parents.iter().map(|&p| p != usize::MAX && nodes[p].requires_grad).collect();
                (node.op, node.parents.clone(), needs, node.retain.get(), bw)
            };
            let Some(bw) = bw else {
                if let Some(g) = leaf(i, g)? {
                    kept.insert(i, g);
                }
                continue;
            };
            let t0 = tape.profile.as_ref().map(|_| std::time::Instant::now());
            let in_op = |e: Error| Error::Backward { op, source: Box::new(e) };
            if retain && closures == Closures::Keep {
                kept.insert(i, g.clone());
            }
            let pg = match &bw {
                Backward::Shared(f) => f(&g, &needs),
                Backward::Owned(f) => f(g, &needs),
            };
            match closures {
                Closures::Keep => tape.nodes.borrow_mut()[i].backward = Some(bw),
                Closures::Drop => drop(bw),
            }
            let pg = pg.map_err(in_op)?;
            if pg.len() != parents.len() {
                return Err(in_op(Error::invalid("backward", format!("returned {} gradients for {} inputs", pg.len(), parents.len()))));
            }
            for ((&p, gp), &need) in parents.iter().zip(pg).zip(&needs) {
                let (Some(gp), true) = (gp, need) else { continue };
                match &mut grads[p] {
                    Some(acc) => acc.add_assign(&gp).map_err(in_op)?,
                    slot @ None => *slot = Some(gp),
                }
            }
            if let (Some(p), Some(t0)) = (&tape.profile, t0) {
                if let Some(t) = &mut p.borrow_mut().ops[i] {
                    t.backward += t0.elapsed();
                }
            }
        }
        Ok(kept)
    }
}

/// The gradients computed by one backward pass.
pub struct Grads {
    grads: HashMap<usize, Tensor>,
    params: HashMap<ParamId, usize>,
}

impl Grads {
    /// Gradient with respect to a leaf (or a retained value); None if no gradient reached it.
    pub fn wrt(&self, v: &Var) -> Option<&Tensor> {
        v.id.and_then(|id| self.grads.get(&id))
    }
    /// Gradient with respect to a parameter entered with [`Graph::param`](super::Graph::param).
    pub fn param(&self, p: &Param) -> Option<&Tensor> {
        self.params.get(&p.id()).and_then(|id| self.grads.get(id))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::autograd::tests::mul;
    use crate::autograd::Graph;

    /// y = (w·x)·v + w²: each parameter's gradient arrives once, complete (w's from two uses),
    /// with the bits of `backward`; a parameter not used and one not asked for are not called,
    /// and the walk leaves no closure holding the parameters' values.
    #[test]
    fn parameters_get_their_complete_gradient_once_with_backward_s_bits() {
        let (w, v) = (Param::new("w", Tensor::from_vec(vec![0.7, -1.3], &[2]).unwrap()), Param::new("v", Tensor::from_vec(vec![2.1, 0.4], &[2]).unwrap()));
        let unused = Param::new("unused", Tensor::ones(&[2]));
        let x = Tensor::from_vec(vec![1.5, -0.25], &[2]).unwrap();
        let build = |g: &Graph| {
            let wx = mul(&g.param(&w), &g.constant(x.clone()));
            let a = mul(&wx, &g.param(&v));
            let b = mul(&g.param(&w), &g.param(&w));
            let s = Var::from_op("add", &[&a, &b], a.value().zip_map(b.value(), |p, q| p + q).unwrap(), |g, _| Ok(vec![Some(g.clone()), Some(g.clone())]));
            let total = s.value().data().iter().sum::<f32>();
            Var::from_op("sum", &[&s], Tensor::from_vec(vec![total], &[1]).unwrap(), |g, _| Ok(vec![Some(Tensor::full(&[2], g.data()[0]))]))
        };
        let g = Graph::new();
        let want = build(&g).backward().unwrap();
        let g = Graph::new();
        let y = build(&g);
        let mut got: Vec<(usize, Vec<f32>)> = vec![];
        y.backward_to_params(&[v.id(), unused.id(), w.id()], |i, t| {
            got.push((i, t.data().to_vec()));
            Ok(())
        })
        .unwrap();
        assert_eq!(got.len(), 2, "{got:?}");
        let find = |i: usize| got.iter().find(|(j, _)| *j == i).map(|(_, d)| d.clone()).unwrap();
        assert_eq!(find(0), want.param(&v).unwrap().data());
        assert_eq!(find(2), want.param(&w).unwrap().data());
        // w' = v·x + 2w: 2.1·1.5 + 1.4, 0.4·(-0.25) - 2.6
        assert!((find(2)[0] - 4.55).abs() < 1e-6 && (find(2)[1] + 2.7).abs() < 1e-6, "{got:?}");
        // the closures are gone, so the parameters' storage is no longer shared with the tape
        assert!(g.0.nodes.borrow().iter().all(|n| n.backward.is_none()));
        assert!(y.backward().unwrap().param(&w).is_none(), "a spent tape reaches no parameter");
    }

    #[test]
    fn an_error_from_the_receiver_stops_the_walk() {
        let g = Graph::new();
        let (w, v) = (Param::new("w", Tensor::ones(&[1])), Param::new("v", Tensor::ones(&[1])));
        let y = mul(&g.param(&w), &g.param(&v));
        let mut calls = 0;
        let e = y.backward_to_params(&[w.id(), v.id()], |_, _| {
            calls += 1;
            Err(Error::invalid("receiver", "full"))
        });
        assert_eq!((e.unwrap_err().to_string(), calls), ("receiver: full".to_string(), 1));
        let e = mul(&g.leaf(Tensor::ones(&[2])), &g.leaf(Tensor::ones(&[2]))).backward_to_params(&[], |_, _| Ok(())).unwrap_err();
        assert!(e.to_string().contains("[2]"), "{e}");
    }

    /// A failed backward that keeps the closures leaves the tape as it was: the same error again.
    #[test]
    fn a_failed_backward_keeps_the_tape() {
        let g = Graph::new();
        let x = g.leaf(Tensor::ones(&[1]));
        let bad = Var::from_op("failing_op", &[&mul(&x, &x)], Tensor::ones(&[1]), |_, _| Err(Error::invalid("inner", "boom")));
        let first = bad.backward().err().unwrap().to_string();
        assert_eq!(first, "backward of failing_op: inner: boom");
        assert_eq!(bad.backward().err().unwrap().to_string(), first);
    }

    /// Walking with the closures kept leaves the tape as it was: a second backward gives the
    /// same gradients.
    #[test]
    fn backward_can_walk_the_tape_twice() {
        let g = Graph::new();
        let x = g.leaf(Tensor::from_vec(vec![3.0], &[1]).unwrap());
        let y = mul(&mul(&x, &x), &x);
        assert_eq!(y.backward().unwrap().wrt(&x).unwrap().data(), &[27.0]);
        assert_eq!(y.backward_with(Tensor::full(&[1], 2.0)).unwrap().wrt(&x).unwrap().data(), &[54.0]);
    }
}
