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

/// The branch a [`select!`](crate::select!) polls first, given which branches are disabled: a
/// decision of the run among the enabled ones when there are two or more, the first branch
/// otherwise — with `biased;`, outside a run, and under the default policy.
#[doc(hidden)]
pub fn __first_branch(disabled: &[bool], biased: bool, what: &str) -> usize {
    let enabled = disabled.iter().filter(|d| !**d).count();
    if biased || enabled < 2 || !in_run() {
        return 0;
    }
    let k = choose(enabled, what);
    disabled.iter().enumerate().filter(|(_, d)| !**d).nth(k).map_or(0, |(i, _)| i)
}

/// The branch a [`select!`](crate::select!) polls at `turn`, starting from `first`: a function,
/// so that the expansion has no arithmetic for lints to find fault with in the caller's crate.
#[doc(hidden)]
pub fn __nth_branch(first: usize, turn: usize, branches: usize) -> usize {
    (first + turn) % branches
}

/// Whether every branch of a [`select!`](crate::select!) is disabled.
#[doc(hidden)]
pub fn __all_disabled(disabled: &[bool]) -> bool {
    disabled.iter().all(|d| *d)
}

/// The panic of a [`select!`](crate::select!) without `else` whose branches are all disabled.
#[doc(hidden)]
#[track_caller]
pub fn __no_branch_left(what: &str) -> ! {
    panic!(
        "every branch of the {what} is disabled (its `if` precondition was false, or its output did not match \
         its pattern) and it has no `else` branch"
    )
}

/// Waits for the first of several futures to finish, drops the others, then runs the winning
/// branch's handler with its output.
///
/// ```text
/// trio::select! {
///     biased;                                    // optional: always poll from the top
///     pattern = future => handler,
///     pattern = future, if precondition => handler,
///     ...
///     else => handler,                           // optional
/// }
/// ```
///
/// What happens, in order:
///
/// 1. Every `precondition` is evaluated; a branch whose precondition is `false` is *disabled*.
/// 2. Every `future` is evaluated once, the disabled branches' too (they are never polled).
/// 3. Every poll polls the enabled branches in turn, starting at a branch the run decides (the
///    first one under the default policy and with `biased;`; any enabled one under
///    exploration), and stops at the first that is ready and whose output matches its
///    `pattern`. A branch whose output does not match is disabled, and the others are polled
///    on.
/// 4. The other futures are dropped — before the handler runs — and the winning output is
///    bound to `pattern` for `handler`.
/// 5. If every branch is disabled, the `else` handler runs; without an `else` branch, the
///    `select!` panics.
///
/// The `select!` evaluates to the handler's value; every handler must have the same type. A
/// handler may use `?`, `return` and `.await`: it runs in the enclosing function, not in a
/// closure. Up to twelve branches.
///
/// Patterns are refutable, as in tokio: `Ok(Some(message)) = rx.recv()` wins only with a
/// message. To decide whether it matches, the pattern is tried on a reference to the output
/// with its `mut`, `ref` and `&` removed (none of them changes which values match); the
/// handler then binds the output with the pattern as written.
///
/// See the [`select`](mod@crate::select) module for how this relates to nurseries and cancel
/// scopes, and for when dropping a branch is safe. Coming from tokio: without exploration the
/// order is tokio's `biased;` order; under exploration `biased;` keeps the order fixed.
///
/// # Cancellation
///
/// `select!` adds no checkpoint of its own: it checkpoints when its branches do. If the
/// enclosing scope is cancelled, each trio operation among the branches returns
/// `Err(Cancelled)`, so the first branch polled wins with that error (unless its pattern
/// does not match an error).
///
/// # Panics
///
/// When every branch is disabled and there is no `else` branch.
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
///
/// Refutable patterns, a precondition and `else`: take at most two messages from `a` and all
/// of `b`'s, until no branch can give more (a `recv` that finds its channel closed returns
/// `Ok(None)`, which does not match, so its branch is disabled for that call):
///
/// ```
/// trio::run(async {
///     let (tx_a, rx_a) = trio::open_memory_channel::<u32>(4);
///     let (tx_b, rx_b) = trio::open_memory_channel::<u32>(4);
///     for i in 0..3 {
///         tx_a.try_send(i).unwrap();
///         tx_b.try_send(10 + i).unwrap();
///     }
///     drop((tx_a, tx_b));
///     let (mut sum, mut taken_from_a) = (0, 0);
///     loop {
///         trio::select! {
///             Ok(Some(v)) = rx_a.recv(), if taken_from_a < 2 => {
///                 sum += v;
///                 taken_from_a += 1;
///             }
///             Ok(Some(v)) = rx_b.recv() => sum += v,
///             else => break,
///         }
///     }
///     assert_eq!(sum, 0 + 1 + 10 + 11 + 12);
/// });
/// ```
#[macro_export]
macro_rules! select {
    (biased; $($branches:tt)+) => {
        $crate::__select_munch!(@start true $($branches)+)
    };
    ($($branches:tt)+) => {
        $crate::__select_munch!(@start false $($branches)+)
    };
}

/// The parser behind [`select!`](crate::select!): gives each branch a slot (its number and the
/// names of its pinned future and its output), collects each pattern token by token up to its
/// `=`, then expands.
#[doc(hidden)]
#[macro_export]
macro_rules! __select_munch {
    (@start $biased:tt $($rest:tt)+) => {
        $crate::__select_munch!(
            @biased $biased
            @parsed []
            @else []
            @slots [
                (0 __select_f0 __select_o0) (1 __select_f1 __select_o1) (2 __select_f2 __select_o2)
                (3 __select_f3 __select_o3) (4 __select_f4 __select_o4) (5 __select_f5 __select_o5)
                (6 __select_f6 __select_o6) (7 __select_f7 __select_o7) (8 __select_f8 __select_o8)
                (9 __select_f9 __select_o9) (10 __select_f10 __select_o10) (11 __select_f11 __select_o11)
            ]
            @rest $($rest)+
        )
    };
    // A separating comma.
    (@biased $biased:tt @parsed $parsed:tt @else $else:tt @slots $slots:tt @rest , $($rest:tt)*) => {
        $crate::__select_munch!(@biased $biased @parsed $parsed @else $else @slots $slots @rest $($rest)*)
    };
    // The `else` branch, last.
    (@biased $biased:tt @parsed $parsed:tt @else [] @slots $slots:tt @rest else => $handler:block $(,)?) => {
        $crate::__select_munch!(@biased $biased @parsed $parsed @else [$handler] @slots $slots @rest)
    };
    (@biased $biased:tt @parsed $parsed:tt @else [] @slots $slots:tt @rest else => $handler:expr $(,)?) => {
        $crate::__select_munch!(@biased $biased @parsed $parsed @else [{ $handler }] @slots $slots @rest)
    };
    (@biased $biased:tt @parsed $parsed:tt @else $else:tt @slots $slots:tt @rest else $($rest:tt)*) => {
        ::core::compile_error!("trio::select!: `else => handler` comes once, after every other branch")
    };
    (@biased $biased:tt @parsed $parsed:tt @else $else:tt @slots [] @rest $($rest:tt)+) => {
        ::core::compile_error!("trio::select! takes at most twelve branches; race more futures in a nursery")
    };
    // A branch: collect its pattern.
    (@biased $biased:tt @parsed $parsed:tt @else [] @slots $slots:tt @rest $first:tt $($rest:tt)*) => {
        $crate::__select_munch!(@pattern [$first] @biased $biased @parsed $parsed @slots $slots @rest $($rest)*)
    };
    // The pattern ends at its `=`; then the future, an optional precondition and the handler,
    // a block (the comma after it is optional) or an expression (then a comma or the end).
    (@pattern [$($pattern:tt)+] @biased $biased:tt @parsed [$($parsed:tt)*] @slots [$slot:tt $($slots:tt)*]
     @rest = $future:expr, if $condition:expr => $handler:block $($rest:tt)*) => {
        $crate::__select_munch!(
            @biased $biased
            @parsed [$($parsed)* ($slot [$($pattern)+] ($future) ($condition) { $handler })]
            @else []
            @slots [$($slots)*]
            @rest $($rest)*
        )
    };
    (@pattern [$($pattern:tt)+] @biased $biased:tt @parsed [$($parsed:tt)*] @slots [$slot:tt $($slots:tt)*]
     @rest = $future:expr, if $condition:expr => $handler:expr $(, $($rest:tt)*)?) => {
        $crate::__select_munch!(
            @biased $biased
            @parsed [$($parsed)* ($slot [$($pattern)+] ($future) ($condition) { $handler })]
            @else []
            @slots [$($slots)*]
            @rest $($($rest)*)?
        )
    };
    (@pattern [$($pattern:tt)+] @biased $biased:tt @parsed [$($parsed:tt)*] @slots [$slot:tt $($slots:tt)*]
     @rest = $future:expr => $handler:block $($rest:tt)*) => {
        $crate::__select_munch!(
            @biased $biased
            @parsed [$($parsed)* ($slot [$($pattern)+] ($future) (true) { $handler })]
            @else []
            @slots [$($slots)*]
            @rest $($rest)*
        )
    };
    (@pattern [$($pattern:tt)+] @biased $biased:tt @parsed [$($parsed:tt)*] @slots [$slot:tt $($slots:tt)*]
     @rest = $future:expr => $handler:expr $(, $($rest:tt)*)?) => {
        $crate::__select_munch!(
            @biased $biased
            @parsed [$($parsed)* ($slot [$($pattern)+] ($future) (true) { $handler })]
            @else []
            @slots [$($slots)*]
            @rest $($($rest)*)?
        )
    };
    (@pattern $pattern:tt @biased $biased:tt @parsed $parsed:tt @slots $slots:tt @rest = $($rest:tt)*) => {
        ::core::compile_error!("trio::select!: a branch is `pattern = future => handler` or `pattern = future, if precondition => handler`")
    };
    // `=>` or `,` before any `=`: the branch has no `= future`.
    (@pattern $pattern:tt @biased $biased:tt @parsed $parsed:tt @slots $slots:tt @rest => $($rest:tt)*) => {
        ::core::compile_error!("trio::select!: a branch is `pattern = future => handler`; this one has no `= future`")
    };
    (@pattern $pattern:tt @biased $biased:tt @parsed $parsed:tt @slots $slots:tt @rest , $($rest:tt)*) => {
        ::core::compile_error!("trio::select!: a branch is `pattern = future => handler`; this one has no `= future`")
    };
    (@pattern [$($pattern:tt)+] @biased $biased:tt @parsed $parsed:tt @slots $slots:tt @rest $next:tt $($rest:tt)*) => {
        $crate::__select_munch!(@pattern [$($pattern)+ $next] @biased $biased @parsed $parsed @slots $slots @rest $($rest)*)
    };
    (@pattern $pattern:tt @biased $biased:tt @parsed $parsed:tt @slots $slots:tt @rest) => {
        ::core::compile_error!("trio::select!: a branch ended before its `= future => handler`")
    };
    (@biased $biased:tt @parsed [] @else $else:tt @slots $slots:tt @rest) => {
        ::core::compile_error!("trio::select! needs at least one `pattern = future => handler` branch")
    };
    // Everything parsed: expand.
    (@biased $biased:tt
     @parsed [$((($index:tt $future:ident $output:ident) [$($pattern:tt)+] $make:tt $condition:tt $handler:tt))+]
     @else [$($else:tt)?]
     @slots $slots:tt
     @rest) => {{
        $( let mut $output = ::core::option::Option::None; )+
        let __select_winner: ::core::option::Option<usize> = {
            // Preconditions first, then every future, the disabled branches' too.
            let mut __select_disabled = [$( !$condition ),+];
            $( let mut $future = ::core::pin::pin!($make); )+
            ::core::future::poll_fn(|__select_cx| {
                const __SELECT_BRANCHES: usize = [$($index),+].len();
                let __select_first = $crate::select::__first_branch(
                    &__select_disabled,
                    $biased,
                    ::core::concat!("select! at ", ::core::file!(), ":", ::core::line!()),
                );
                for __select_turn in 0..__SELECT_BRANCHES {
                    let __select_branch = $crate::select::__nth_branch(__select_first, __select_turn, __SELECT_BRANCHES);
                    $(
                        if __select_branch == $index && !__select_disabled[$index] {
                            if let ::core::task::Poll::Ready(__select_value) =
                                ::core::future::Future::poll($future.as_mut(), __select_cx)
                            {
                                match &__select_value {
                                    #[allow(unused_variables)]
                                    $crate::__select_clean_pattern!([] [] $($pattern)+) => {
                                        $output = ::core::option::Option::Some(__select_value);
                                        return ::core::task::Poll::Ready(::core::option::Option::Some($index));
                                    }
                                    #[allow(unreachable_patterns)]
                                    _ => __select_disabled[$index] = true,
                                }
                            }
                        }
                    )+
                }
                if $crate::select::__all_disabled(&__select_disabled) {
                    ::core::task::Poll::Ready(::core::option::Option::None)
                } else {
                    ::core::task::Poll::Pending
                }
            })
            .await
            // The losing futures are dropped here, before any handler runs.
        };
        match __select_winner {
            $(
                ::core::option::Option::Some($index) => {
                    match $output.take() {
                        ::core::option::Option::Some($($pattern)+) => $handler,
                        #[allow(unreachable_patterns)]
                        _ => ::core::unreachable!("the winning branch of a select! left no output"),
                    }
                }
            )+
            _ => $crate::__select_else!([$($else)?] ::core::concat!("select! at ", ::core::file!(), ":", ::core::line!())),
        }
    }};
}

/// The `else` handler of a [`select!`](crate::select!), or its panic when there is none.
#[doc(hidden)]
#[macro_export]
macro_rules! __select_else {
    ([$handler:block] $what:expr) => {
        $handler
    };
    ([] $what:expr) => {
        $crate::select::__no_branch_left($what)
    };
}

/// A [`select!`](crate::select!) pattern with its `mut`, `ref` and `&` removed, so that it can
/// be tried on a reference to the output. `[out] [stack] tokens`: the stack holds, for each group
/// being cleaned, what came before it, its delimiter and what follows it.
#[doc(hidden)]
#[macro_export]
macro_rules! __select_clean_pattern {
    ([$($out:tt)*] []) => { $($out)* };
    ([$($out:tt)*] $stack:tt mut $($rest:tt)*) => {
        $crate::__select_clean_pattern!([$($out)*] $stack $($rest)*)
    };
    ([$($out:tt)*] $stack:tt ref $($rest:tt)*) => {
        $crate::__select_clean_pattern!([$($out)*] $stack $($rest)*)
    };
    // A reference pattern always matches its reference, so dropping the `&` keeps what the
    // pattern accepts; the reference is then followed implicitly.
    ([$($out:tt)*] $stack:tt & $($rest:tt)*) => {
        $crate::__select_clean_pattern!([$($out)*] $stack $($rest)*)
    };
    ([$($out:tt)*] $stack:tt && $($rest:tt)*) => {
        $crate::__select_clean_pattern!([$($out)*] $stack $($rest)*)
    };
    ([$($out:tt)*] [$($stack:tt)*] ( $($inner:tt)* ) $($rest:tt)*) => {
        $crate::__select_clean_pattern!([] [([$($out)*] paren [$($rest)*]) $($stack)*] $($inner)*)
    };
    ([$($out:tt)*] [$($stack:tt)*] [ $($inner:tt)* ] $($rest:tt)*) => {
        $crate::__select_clean_pattern!([] [([$($out)*] bracket [$($rest)*]) $($stack)*] $($inner)*)
    };
    ([$($out:tt)*] [$($stack:tt)*] { $($inner:tt)* } $($rest:tt)*) => {
        $crate::__select_clean_pattern!([] [([$($out)*] brace [$($rest)*]) $($stack)*] $($inner)*)
    };
    ([$($inner:tt)*] [([$($out:tt)*] paren [$($rest:tt)*]) $($stack:tt)*]) => {
        $crate::__select_clean_pattern!([$($out)* ( $($inner)* )] [$($stack)*] $($rest)*)
    };
    ([$($inner:tt)*] [([$($out:tt)*] bracket [$($rest:tt)*]) $($stack:tt)*]) => {
        $crate::__select_clean_pattern!([$($out)* [ $($inner)* ]] [$($stack)*] $($rest)*)
    };
    ([$($inner:tt)*] [([$($out:tt)*] brace [$($rest:tt)*]) $($stack:tt)*]) => {
        $crate::__select_clean_pattern!([$($out)* { $($inner)* }] [$($stack)*] $($rest)*)
    };
    ([$($out:tt)*] $stack:tt $next:tt $($rest:tt)*) => {
        $crate::__select_clean_pattern!([$($out)* $next] $stack $($rest)*)
    };
}
