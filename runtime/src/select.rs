//! Racing futures: [`select!`](crate::select!) waits for the first of several futures to
//! finish and drops the rest.
//!
//! # Trio style first
//!
//! Trio has no `select`: a race is a nursery whose children cancel the nursery's scope when
//! they finish. That form runs every branch as a task with its own cancel points, cleans up
//! the losers through cancellation (each sees `Cancelled` and can unwind), and reports every
//! error:
//!
//! ```
//! use std::cell::Cell;
//! use std::rc::Rc;
//! use std::time::Duration;
//!
//! trio::run(async {
//!     let winner = Rc::new(Cell::new(""));
//!     trio::open_nursery(|nursery| {
//!         let winner = winner.clone();
//!         async move {
//!             for (name, secs) in [("slow", 2), ("fast", 1)] {
//!                 let (scope, winner) = (nursery.cancel_scope(), winner.clone());
//!                 nursery.start_soon(async move {
//!                     trio::sleep(Duration::from_secs(secs)).await?;
//!                     winner.set(name);
//!                     scope.cancel(); // the race is over: cancel the others
//!                     Ok(())
//!                 });
//!             }
//!             Ok(())
//!         }
//!     })
//!     .await
//!     .unwrap();
//!     assert_eq!(winner.get(), "fast");
//! });
//! ```
//!
//! `select!` is the compact form for the common case where the branches are short waits in the
//! current task — a message or a timeout, a message from one of two channels — and a loser can
//! simply be dropped.
//!
//! # Dropping is not cancelling
//!
//! A losing branch is dropped, not cancelled: it sees no `Cancelled`, and whatever it was in
//! the middle of stops there. Trio's primitives lose nothing when dropped while they wait (a
//! dropped `recv` takes no message, a dropped `send` sends nothing, a dropped `Lock::acquire`
//! does not take the lock), so a branch that is one such wait is safe. A branch that is a
//! longer `async` block may be dropped between two of its steps: put such work in a nursery
//! task instead, as above.
//!
//! # Exploration
//!
//! When several branches could finish in the same poll, which one wins is a decision of the
//! run: every poll of a `select!` asks the run where to start polling (a
//! [`choose`] labelled `select! at file:line`). The default policy
//! always starts at the first branch, so a plain run is biased towards the top, like tokio's
//! `biased;` mode; the testkit's exploring policies start anywhere, so a test under exploration
//! sees every branch win that can.

use crate::lowlevel::{choose, in_run};

/// The branch a [`select!`](crate::select!) with `branches` branches polls first: a decision of
/// the run, 0 under the default policy and outside a run.
#[doc(hidden)]
pub fn __first_branch(branches: usize, what: &str) -> usize {
    if branches < 2 || !in_run() {
        return 0;
    }
    choose(branches, what)
}

/// The branch a [`select!`](crate::select!) polls at `turn`, starting from `first`: a function,
/// so that the expansion has no arithmetic for lints to find fault with in the caller's crate.
#[doc(hidden)]
pub fn __nth_branch(first: usize, turn: usize, branches: usize) -> usize {
    (first + turn) % branches
}

/// Waits for the first of several futures to finish, drops the others, then runs the winning
/// branch's handler with its output.
///
/// ```text
/// trio::select! {
///     pattern = future => handler,
///     ...
/// }
/// ```
///
/// Each `future` is evaluated once, before anything is polled. Every poll polls the branches
/// in turn, starting at a branch the run decides (the first one under the default policy; any
/// one under exploration), and stops at the first that is ready. The other futures are then
/// dropped — before the handler runs — and the winning output is bound to `pattern` (which must
/// be irrefutable) for `handler`. The `select!` evaluates to the handler's value; every handler
/// must have the same type. A handler may use `?`, `return` and `.await`: it runs in the
/// enclosing function, not in a closure. Up to twelve branches.
///
/// See the [`select`](mod@crate::select) module for how this relates to nurseries and cancel
/// scopes, and for when dropping a branch is safe. Coming from tokio: there is no `else`
/// branch, no `if` precondition and no refutable pattern; and without exploration the order is
/// tokio's `biased;` order.
///
/// # Cancellation
///
/// `select!` adds no checkpoint of its own: it checkpoints when its branches do. If the
/// enclosing scope is cancelled, each trio operation among the branches returns
/// `Err(Cancelled)`, so the first branch polled wins with that error.
///
/// # Examples
///
/// A message or a timeout:
///
/// ```
/// use std::time::Duration;
///
/// trio::run(async {
///     let (tx, rx) = trio::open_memory_channel::<u32>(1);
///     tx.try_send(7).unwrap();
///     let got = trio::select! {
///         message = rx.recv() => message.unwrap(),
///         _ = trio::sleep(Duration::from_secs(1)) => None,
///     };
///     assert_eq!(got, Some(7));
///     // Nothing left: now the sleep wins, and the dropped `recv` took nothing.
///     let got = trio::select! {
///         message = rx.recv() => message.unwrap(),
///         _ = trio::sleep(Duration::from_millis(1)) => None,
///     };
///     assert_eq!(got, None);
/// });
/// ```
#[macro_export]
macro_rules! select {
    ($($branches:tt)+) => {
        $crate::__select_munch!(
            @parsed []
            @slots [
                (0 __select_f0 __select_o0) (1 __select_f1 __select_o1) (2 __select_f2 __select_o2)
                (3 __select_f3 __select_o3) (4 __select_f4 __select_o4) (5 __select_f5 __select_o5)
                (6 __select_f6 __select_o6) (7 __select_f7 __select_o7) (8 __select_f8 __select_o8)
                (9 __select_f9 __select_o9) (10 __select_f10 __select_o10) (11 __select_f11 __select_o11)
            ]
            @rest $($branches)+
        )
    };
}

/// The parser behind [`select!`](crate::select!): gives each branch a slot (its number and the
/// names of its pinned future and its output), then expands.
#[doc(hidden)]
#[macro_export]
macro_rules! __select_munch {
    // A separating comma.
    (@parsed [$($parsed:tt)*] @slots [$($slots:tt)*] @rest , $($rest:tt)*) => {
        $crate::__select_munch!(@parsed [$($parsed)*] @slots [$($slots)*] @rest $($rest)*)
    };
    // A branch whose handler is a block: the comma after it is optional.
    (@parsed [$($parsed:tt)*] @slots [$slot:tt $($slots:tt)*]
     @rest $pattern:pat = $future:expr => $handler:block $($rest:tt)*) => {
        $crate::__select_munch!(
            @parsed [$($parsed)* ($slot [$pattern] ($future) { $handler })]
            @slots [$($slots)*]
            @rest $($rest)*
        )
    };
    // A branch whose handler is an expression, followed by a comma or the end.
    (@parsed [$($parsed:tt)*] @slots [$slot:tt $($slots:tt)*]
     @rest $pattern:pat = $future:expr => $handler:expr $(, $($rest:tt)*)?) => {
        $crate::__select_munch!(
            @parsed [$($parsed)* ($slot [$pattern] ($future) { $handler })]
            @slots [$($slots)*]
            @rest $($($rest)*)?
        )
    };
    (@parsed [$($parsed:tt)*] @slots [] @rest $($rest:tt)+) => {
        ::core::compile_error!("trio::select! takes at most twelve branches; race more futures in a nursery")
    };
    // Everything parsed: expand.
    (@parsed [$((($index:tt $future:ident $output:ident) [$pattern:pat] $make:tt $handler:tt))+] @slots [$($slots:tt)*] @rest) => {{
        $( let mut $output = ::core::option::Option::None; )+
        let __select_winner: usize = {
            $( let mut $future = ::core::pin::pin!($make); )+
            ::core::future::poll_fn(|__select_cx| {
                const __SELECT_BRANCHES: usize = [$($index),+].len();
                let __select_first = $crate::select::__first_branch(
                    __SELECT_BRANCHES,
                    ::core::concat!("select! at ", ::core::file!(), ":", ::core::line!()),
                );
                for __select_turn in 0..__SELECT_BRANCHES {
                    let __select_branch = $crate::select::__nth_branch(__select_first, __select_turn, __SELECT_BRANCHES);
                    $(
                        if __select_branch == $index {
                            if let ::core::task::Poll::Ready(__select_value) =
                                ::core::future::Future::poll($future.as_mut(), __select_cx)
                            {
                                $output = ::core::option::Option::Some(__select_value);
                                return ::core::task::Poll::Ready($index);
                            }
                        }
                    )+
                }
                ::core::task::Poll::Pending
            })
            .await
            // The losing futures are dropped here, before any handler runs.
        };
        match __select_winner {
            $(
                $index => {
                    let $pattern = $output.take().expect("the winning branch left its output");
                    $handler
                }
            )+
            _ => ::core::unreachable!("select! has no branch {}", __select_winner),
        }
    }};
}
