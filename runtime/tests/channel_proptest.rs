//! Property test: random programs of sends, receives, clones, closes and cancellations,
//! across several tasks and random schedules, checked against a simple model of a memory
//! channel — every value received at most once, per-sender FIFO order at each receiver,
//! every failed send handed its own value back, statistics always consistent, and nothing
//! lost or leaked at the end.

mod sync_util;

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};
use std::rc::Rc;
use std::time::Duration;

use futures::{SinkExt, StreamExt};
use proptest::prelude::*;
use sync_util::{AutojumpClock, in_cancelled_scope};
use trio::abc::SchedulePolicy;
use trio::lowlevel::RunnableTasks;
use trio::{
    Capacity, MemoryReceiver, MemorySender, RecvError, SendError, TryRecvError, TrySendError, move_on_after,
    open_memory_channel, open_nursery,
};

// ===== the program =====

#[derive(Debug, Clone)]
enum SendOp {
    /// `send` with a timeout of this many seconds.
    Send(u8),
    TrySend,
    /// `Sink::send` with a timeout.
    SinkSend(u8),
    /// `send` in a scope that is already cancelled.
    CancelledSend,
    Clone,
    Close,
    Sleep(u8),
}

#[derive(Debug, Clone)]
enum RecvOp {
    /// `recv` with a timeout of this many seconds.
    Recv(u8),
    TryRecv,
    /// `Stream::next` with a timeout.
    StreamNext(u8),
    CancelledRecv,
    Clone,
    Close,
    Sleep(u8),
}

#[derive(Debug, Clone)]
struct Program {
    capacity: Capacity,
    senders: Vec<Vec<SendOp>>,
    receivers: Vec<Vec<RecvOp>>,
    /// The main task keeps a receiver open and drains the channel at the end.
    main_keeps_receiver: bool,
    seed: u64,
}

fn send_op() -> impl Strategy<Value = SendOp> {
    prop_oneof![
        5 => (1..4u8).prop_map(SendOp::Send),
        2 => Just(SendOp::TrySend),
        2 => (1..4u8).prop_map(SendOp::SinkSend),
        1 => Just(SendOp::CancelledSend),
        1 => Just(SendOp::Clone),
        1 => Just(SendOp::Close),
        1 => (0..3u8).prop_map(SendOp::Sleep),
    ]
}

fn recv_op() -> impl Strategy<Value = RecvOp> {
    prop_oneof![
        5 => (1..4u8).prop_map(RecvOp::Recv),
        2 => Just(RecvOp::TryRecv),
        2 => (1..4u8).prop_map(RecvOp::StreamNext),
        1 => Just(RecvOp::CancelledRecv),
        1 => Just(RecvOp::Clone),
        1 => Just(RecvOp::Close),
        1 => (0..3u8).prop_map(RecvOp::Sleep),
    ]
}

fn program() -> impl Strategy<Value = Program> {
    (
        prop_oneof![(0..4usize).prop_map(Capacity::Bounded), Just(Capacity::Unbounded)],
        prop::collection::vec(prop::collection::vec(send_op(), 0..14), 1..4),
        prop::collection::vec(prop::collection::vec(recv_op(), 0..14), 1..4),
        any::<bool>(),
        any::<u64>(),
    )
        .prop_map(|(capacity, senders, receivers, main_keeps_receiver, seed)| Program {
            capacity,
            senders,
            receivers,
            main_keeps_receiver,
            seed,
        })
}

// ===== a random schedule =====

/// Picks any runnable task at random (xorshift seeded by the program).
struct RandomPolicy(u64);

impl SchedulePolicy for RandomPolicy {
    fn pick_task(&mut self, runnable: &RunnableTasks<'_>) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % runnable.len() as u64) as usize
    }
}

// ===== values that account for themselves =====

type Id = (usize, u32);

#[derive(Debug, Default)]
struct Ledger {
    created: RefCell<BTreeSet<Id>>,
    dropped: RefCell<BTreeMap<Id, u32>>,
}

#[derive(Debug)]
struct Value {
    id: Id,
    ledger: Rc<Ledger>,
}

impl Value {
    fn new(id: Id, ledger: &Rc<Ledger>) -> Value {
        assert!(ledger.created.borrow_mut().insert(id));
        Value { id, ledger: ledger.clone() }
    }
}

impl Drop for Value {
    fn drop(&mut self) {
        *self.ledger.dropped.borrow_mut().entry(self.id).or_default() += 1;
    }
}

// ===== the model =====

#[derive(Default)]
struct Model {
    limit: usize,
    sender_tasks: usize,
    receiver_tasks: usize,
    open_senders: usize,
    open_receivers: usize,
    /// Once every receiver was closed, buffered values may have been discarded.
    receivers_all_closed: bool,
    sent_ok: BTreeSet<Id>,
    send_failed: BTreeSet<Id>,
    received: BTreeSet<Id>,
}

impl Model {
    fn check<T>(&self, stats: trio::MemoryChannelStatistics, _: &T) {
        assert_eq!(stats.open_send_channels, self.open_senders, "{stats:?}");
        assert_eq!(stats.open_receive_channels, self.open_receivers, "{stats:?}");
        assert!(stats.current_buffer_used <= self.limit, "{stats:?}");
        assert!(stats.peak_buffer_used >= stats.current_buffer_used, "{stats:?}");
        assert!(stats.peak_buffer_used <= self.limit, "{stats:?}");
        assert!(stats.tasks_waiting_send <= self.sender_tasks, "{stats:?}");
        assert!(stats.tasks_waiting_receive <= self.receiver_tasks, "{stats:?}");
        if stats.tasks_waiting_receive > 0 {
            assert_eq!(stats.current_buffer_used, 0, "a receiver waits next to buffered values: {stats:?}");
        }
        if stats.tasks_waiting_send > 0 {
            assert_eq!(stats.current_buffer_used, self.limit, "a sender waits next to free space: {stats:?}");
        }
        if self.open_receivers == 0 {
            assert_eq!(stats.current_buffer_used, 0, "the last receiver discards the buffer: {stats:?}");
            assert_eq!(stats.tasks_waiting_send, 0, "{stats:?}");
        }
    }

    fn received(&mut self, receiver: usize, id: Id, last_seen: &mut BTreeMap<usize, u32>) {
        assert!(self.received.insert(id), "{id:?} was received twice");
        assert!(!self.send_failed.contains(&id), "{id:?} was received although its send failed");
        if let Some(previous) = last_seen.insert(id.0, id.1) {
            assert!(previous < id.1, "receiver {receiver} got {id:?} after ({}, {previous})", id.0);
        }
    }
}

// ===== running a program =====

fn run_program(program: Program) {
    let ledger = Rc::new(Ledger::default());
    let model = Rc::new(RefCell::new(Model {
        limit: program.capacity.limit(),
        sender_tasks: program.senders.len(),
        receiver_tasks: program.receivers.len() + usize::from(program.main_keeps_receiver),
        ..Model::default()
    }));
    let (ledger2, model2) = (ledger.clone(), model.clone());
    trio::Builder::new().clock(AutojumpClock::default()).policy(RandomPolicy(program.seed | 1)).run(async move {
        let (tx, rx) = open_memory_channel::<Value>(program.capacity);
        let rx_main = rx.try_clone().unwrap();
        let ledger = ledger2;
        let model = model2;
        open_nursery(|nursery| async move {
            for (index, ops) in program.senders.iter().cloned().enumerate() {
                model.borrow_mut().open_senders += 1;
                let (handle, ledger, model) = (tx.try_clone()?, ledger.clone(), model.clone());
                nursery.start_soon(sender(index, ops, handle, ledger, model));
            }
            for (index, ops) in program.receivers.iter().cloned().enumerate() {
                model.borrow_mut().open_receivers += 1;
                let (handle, model) = (rx.try_clone()?, model.clone());
                nursery.start_soon(receiver(index, ops, handle, model));
            }
            drop(tx);
            drop(rx);
            if program.main_keeps_receiver {
                model.borrow_mut().open_receivers += 1;
            } else {
                drop(rx_main);
                return Ok(());
            }
            // Wait for the senders to finish, then drain.
            let mut last_seen = BTreeMap::new();
            loop {
                let result = rx_main.recv().await;
                model.borrow().check(rx_main.statistics(), &());
                match result {
                    Ok(Some(value)) => model.borrow_mut().received(usize::MAX, value.id, &mut last_seen),
                    Ok(None) => break,
                    Err(e) => panic!("the draining receive failed: {e}"),
                }
            }
            assert_eq!(model.borrow().open_senders, 0);
            close_receiver(&model, &rx_main);
            Ok(())
        })
        .await
        .unwrap();
    });

    let model = model.borrow();
    assert!(model.received.is_subset(&model.sent_ok), "received values that were never sent");
    if program.main_keeps_receiver || !model.receivers_all_closed {
        assert_eq!(model.received, model.sent_ok, "a sent value was lost");
    }
    assert!(model.sent_ok.is_disjoint(&model.send_failed));
    let created = ledger.created.borrow();
    let dropped = ledger.dropped.borrow();
    assert_eq!(created.len(), dropped.len(), "a value was leaked");
    assert!(dropped.values().all(|&n| n == 1), "a value was dropped twice");
}

async fn sender(
    index: usize,
    ops: Vec<SendOp>,
    first: MemorySender<Value>,
    ledger: Rc<Ledger>,
    model: Rc<RefCell<Model>>,
) -> trio::Result<()> {
    let mut handles = vec![first];
    let mut seq = 0;
    for op in ops {
        let current = handles.len() - 1;
        let closed = handles[current].is_closed();
        let mut value = || {
            seq += 1;
            Value::new((index, seq), &ledger)
        };
        match op {
            SendOp::Send(secs) | SendOp::SinkSend(secs) => {
                let v = value();
                let id = v.id;
                let handle = &mut handles[current];
                let mut result = None;
                move_on_after(Duration::from_secs(secs.into()), async {
                    result = Some(match op {
                        SendOp::Send(_) => handle.send(v).await,
                        _ => SinkExt::send(handle, v).await,
                    });
                    Ok(())
                })
                .await?;
                let result = result.expect("the send returns when cancelled");
                settle_send(&model, id, closed, result.map_err(|e| (e.is_cancelled(), e)));
            }
            SendOp::TrySend => {
                let v = value();
                let id = v.id;
                let result = handles[current].try_send(v).map_err(|e| match e {
                    TrySendError::WouldBlock(v) => SendError::Cancelled(v),
                    TrySendError::Closed(v) => SendError::Closed(v),
                    TrySendError::Broken(v) => SendError::Broken(v),
                });
                settle_send(&model, id, closed, result.map_err(|e| (e.is_cancelled(), e)));
            }
            SendOp::CancelledSend => {
                let v = value();
                let id = v.id;
                let result = in_cancelled_scope(handles[current].send(v)).await;
                assert!(matches!(&result, Err(SendError::Cancelled(_))), "a cancelled send did not fail as cancelled");
                settle_send(&model, id, closed, result.map_err(|e| (true, e)));
            }
            SendOp::Clone => match handles[current].try_clone() {
                Ok(clone) => {
                    assert!(!closed, "cloned a closed handle");
                    model.borrow_mut().open_senders += 1;
                    handles.push(clone);
                }
                Err(_) => assert!(closed, "could not clone an open handle"),
            },
            SendOp::Close => {
                if !closed {
                    model.borrow_mut().open_senders -= 1;
                }
                handles[current].close();
            }
            SendOp::Sleep(n) => trio::sleep(Duration::from_millis(u64::from(n) * 500)).await?,
        }
        model.borrow().check(handles[current].statistics(), &());
    }
    for handle in &handles {
        if !handle.is_closed() {
            model.borrow_mut().open_senders -= 1;
            handle.close();
        }
    }
    Ok(())
}

/// Records the outcome of a send of `id`; an error must hand back that very value.
fn settle_send(model: &RefCell<Model>, id: Id, closed: bool, result: Result<(), (bool, SendError<Value>)>) {
    let mut model = model.borrow_mut();
    match result {
        Ok(()) => {
            assert!(!closed, "sent through a closed handle");
            assert!(model.sent_ok.insert(id));
        }
        Err((_, error)) => {
            match &error {
                SendError::Closed(_) => assert!(closed, "Closed from an open handle"),
                SendError::Broken(_) => assert_eq!(model.open_receivers, 0, "Broken while a receiver is open"),
                SendError::Cancelled(_) => {}
            }
            let value = error.into_inner();
            assert_eq!(value.id, id, "the error handed back another value");
            assert!(model.send_failed.insert(id));
        }
    }
}

async fn receiver(
    index: usize,
    ops: Vec<RecvOp>,
    first: MemoryReceiver<Value>,
    model: Rc<RefCell<Model>>,
) -> trio::Result<()> {
    let mut handles = vec![first];
    let mut last_seen = BTreeMap::new();
    for op in ops {
        let current = handles.len() - 1;
        let closed = handles[current].is_closed();
        let outcome: Result<Option<Value>, Option<RecvError>> = match op {
            RecvOp::Recv(secs) | RecvOp::StreamNext(secs) => {
                let handle = &mut handles[current];
                let mut result = None;
                move_on_after(Duration::from_secs(secs.into()), async {
                    result = Some(match op {
                        RecvOp::Recv(_) => handle.recv().await,
                        _ => handle.next().await.transpose(),
                    });
                    Ok(())
                })
                .await?;
                result.expect("the receive returns when cancelled").map_err(Some)
            }
            RecvOp::TryRecv => handles[current].try_recv().map_err(|e| match e {
                TryRecvError::WouldBlock => None,
                TryRecvError::Closed => Some(RecvError::Closed),
            }),
            RecvOp::CancelledRecv => {
                let result = in_cancelled_scope(handles[current].recv()).await;
                assert!(matches!(result, Err(RecvError::Cancelled)), "a cancelled receive returned {result:?}");
                Err(Some(RecvError::Cancelled))
            }
            RecvOp::Clone => {
                match handles[current].try_clone() {
                    Ok(clone) => {
                        assert!(!closed, "cloned a closed handle");
                        model.borrow_mut().open_receivers += 1;
                        handles.push(clone);
                    }
                    Err(_) => assert!(closed, "could not clone an open handle"),
                }
                Err(None)
            }
            RecvOp::Close => {
                close_receiver(&model, &handles[current]);
                Err(None)
            }
            RecvOp::Sleep(n) => {
                trio::sleep(Duration::from_millis(u64::from(n) * 500)).await?;
                Err(None)
            }
        };
        match outcome {
            Ok(Some(value)) => {
                assert!(!closed, "received through a closed handle");
                model.borrow_mut().received(index, value.id, &mut last_seen);
            }
            Ok(None) => assert_eq!(model.borrow().open_senders, 0, "the end of the channel while a sender is open"),
            Err(Some(RecvError::Closed)) => assert!(closed, "Closed from an open handle"),
            Err(_) => {}
        }
        let current = handles.len() - 1;
        model.borrow().check(handles[current].statistics(), &());
    }
    for handle in &handles {
        close_receiver(&model, handle);
    }
    Ok(())
}

fn close_receiver(model: &RefCell<Model>, handle: &MemoryReceiver<Value>) {
    if !handle.is_closed() {
        let mut model = model.borrow_mut();
        model.open_receivers -= 1;
        if model.open_receivers == 0 {
            model.receivers_all_closed = true;
        }
    }
    handle.close();
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn random_channel_programs_match_the_model(program in program()) {
        run_program(program);
    }
}

/// A fixed program that exercises every operation, so the harness itself is known to work.
#[test]
fn a_busy_program_matches_the_model() {
    let senders = vec![
        vec![SendOp::Send(2), SendOp::SinkSend(1), SendOp::TrySend, SendOp::Clone, SendOp::Send(3)],
        vec![SendOp::CancelledSend, SendOp::Send(1), SendOp::Close, SendOp::Send(1), SendOp::Clone],
    ];
    let receivers = vec![
        vec![RecvOp::Recv(1), RecvOp::StreamNext(2), RecvOp::TryRecv, RecvOp::Sleep(2), RecvOp::Recv(3)],
        vec![RecvOp::CancelledRecv, RecvOp::Clone, RecvOp::Recv(2), RecvOp::Close, RecvOp::Recv(1)],
    ];
    for capacity in [Capacity::Bounded(0), Capacity::Bounded(1), Capacity::Unbounded] {
        for seed in 1..20 {
            for main_keeps_receiver in [false, true] {
                let program = Program {
                    capacity,
                    senders: senders.clone(),
                    receivers: receivers.clone(),
                    main_keeps_receiver,
                    seed,
                };
                run_program(program);
            }
        }
    }
}
