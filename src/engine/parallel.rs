//! The engine on several threads, with the same alerts as on one.
//!
//! The calling thread reads, parses and runs the [`Front`](super::Front):
//! each record becomes an event (or only a tick of event time). Events are
//! gathered into batches and every batch goes to every worker; a worker
//! hosts some of the [`SHARDS`] shards and runs them over the batch, ticks
//! and events in order, returning the tagged findings. The calling thread
//! then merges a batch's findings from all workers in the single-threaded
//! order (event, detector, shard), closes quiet incidents at the tick
//! points, and emits alerts. Everything that decides an alert happens in the
//! same order as in [`Engine::feed`], so the output is byte-identical.
//!
//! Up to `DEPTH` batches are in flight, so the reader keeps going while the
//! workers catch up; memory is bounded by batch size times depth, and the
//! batch size comes from the memory ceiling. Where batches are cut does not
//! change the merge order, so it does not change any alert.

use std::collections::VecDeque;
use std::io;
use std::sync::Arc;
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::thread::JoinHandle;

use super::shard::{self, SHARDS, Shard, Tagged};
use super::{Engine, Shown};
use crate::alerts::AlertSink;
use crate::detectors::{Finding, Routes};
use crate::event::Event;
use crate::formats::{LineParser, Record, Timestamp};
use crate::routes::{RouteId, RouteInfo};

/// Events per batch, at most.
const BATCH_EVENTS: usize = 1024;
/// Raw line bytes per batch (kept for sample lines), at most: caps a batch
/// of huge lines.
const BATCH_BYTES: usize = 128 << 10;
/// Batches sent but not yet merged. The workers' loads differ (a hot
/// route's shard is busier), so with few batches out the reader soon waits
/// on the slowest worker while the other core idles. Many small batches
/// rather than a few large ones: the workers read a batch while it is
/// still in cache. On two cores, 10 M combined lines: 4 batches of up to
/// 4,096 events kept the cores about 1.78 busy at 48 MB peak RSS; 16 of up
/// to 1,024 about 1.80 (1.86 on an earlier machine) at 49 MB; 64 keep them
/// about 1.90 busy at 64 MB. The reader and two workers share two cores,
/// and the scheduler hands out slices of several milliseconds: 16 batches
/// (about 6 ms of the reader's work) ran dry while the reader waited for
/// its turn, 64 (about 25 ms) do not.
const DEPTH: usize = 64;

/// What every worker gets: the events, the ticks between them, and the
/// routes created since the previous batch (route ids are positions).
struct Batch {
    events: Vec<Event>,
    /// (position, time): tick before `events[position]`.
    ticks: Vec<(u32, Timestamp)>,
    new_routes: Vec<RouteInfo>,
}

/// What the calling thread keeps of a batch until it is merged.
#[derive(Default)]
struct Held {
    ticks: Vec<(u32, Timestamp)>,
    lines: Vec<u8>,
    /// End offset of each event's line in `lines`.
    ends: Vec<usize>,
}

enum Msg {
    Batch(Arc<Batch>),
    /// Send the shards back and stop.
    Finish,
}

enum Reply {
    Findings(Vec<Tagged>),
    Shards(Vec<Shard>),
}

struct Worker {
    tx: SyncSender<Msg>,
    rx: Receiver<Reply>,
    handle: JoinHandle<()>,
}

/// A worker's copy of the route table.
struct RouteTable(Vec<RouteInfo>);

impl Routes for RouteTable {
    fn info(&self, id: RouteId) -> &RouteInfo {
        &self.0[id as usize]
    }
}

fn work(mut shards: Vec<Shard>, rx: Receiver<Msg>, tx: std::sync::mpsc::Sender<Reply>) {
    let mut routes = RouteTable(Vec::new());
    let mut scratch: Vec<Finding> = Vec::new();
    while let Ok(msg) = rx.recv() {
        let b = match msg {
            Msg::Batch(b) => b,
            Msg::Finish => {
                let _ = tx.send(Reply::Shards(shards));
                return;
            }
        };
        routes.0.extend(b.new_routes.iter().cloned());
        let mut out = Vec::new();
        // Event by event, every shard of this worker in turn: the batch is
        // read once, not once per shard. Shards are independent, and the
        // merge puts findings in order, so this order is free.
        let mut ti = 0;
        for (i, ev) in b.events.iter().enumerate() {
            while ti < b.ticks.len() && b.ticks[ti].0 as usize <= i {
                for s in shards.iter_mut() {
                    s.tick(b.ticks[ti].1, &routes, &mut scratch);
                }
                ti += 1;
            }
            for s in shards.iter_mut() {
                s.observe(ev, i as u32, &routes, &mut scratch, &mut out);
            }
        }
        for &(_, now) in &b.ticks[ti..] {
            for s in shards.iter_mut() {
                s.tick(now, &routes, &mut scratch);
            }
        }
        if tx.send(Reply::Findings(out)).is_err() {
            return;
        }
    }
}

/// Drives an [`Engine`] whose shards run on worker threads.
pub struct Parallel {
    workers: Vec<Worker>,
    events: Vec<Event>,
    held: Held,
    pending: VecDeque<Held>,
    /// Line bytes held in `pending`.
    pending_bytes: usize,
    /// Merged batches' buffers, reused: a fresh line buffer per batch cost
    /// page faults and regrowth on the reading thread.
    spare: Vec<Held>,
    routes_sent: usize,
    batch_events: usize,
    batch_bytes: usize,
}

impl Parallel {
    /// Move the engine's shards onto `threads` workers (at most one per
    /// shard), with at most about `in_flight` bytes of batches out.
    pub fn start(engine: &mut Engine, threads: usize, in_flight: usize) -> Parallel {
        let (batch_events, batch_bytes) = batch_size(in_flight);
        let n = threads.clamp(1, SHARDS);
        let mut groups: Vec<Vec<Shard>> = (0..n).map(|_| Vec::new()).collect();
        for s in std::mem::take(&mut engine.shards) {
            groups[s.index as usize % n].push(s);
        }
        let workers = groups
            .into_iter()
            .enumerate()
            .map(|(i, shards)| {
                let (tx, wrx) = sync_channel(DEPTH + 1);
                let (wtx, rx) = std::sync::mpsc::channel();
                let handle = std::thread::Builder::new()
                    .name(format!("shard-worker-{i}"))
                    .spawn(move || work(shards, wrx, wtx))
                    .expect("spawning a worker thread");
                Worker { tx, rx, handle }
            })
            .collect();
        Parallel {
            workers,
            events: Vec::with_capacity(batch_events),
            held: Held::default(),
            pending: VecDeque::new(),
            pending_bytes: 0,
            spare: Vec::new(),
            routes_sent: 0,
            batch_events,
            batch_bytes,
        }
    }

    /// Run the front on one record. Returns true when the batch is full and
    /// [`Parallel::send`] should be called (once `rec` is no longer borrowed
    /// from the parser).
    pub fn push(&mut self, engine: &mut Engine, rec: &Record<'_>, line: &[u8]) -> bool {
        let step = engine.front.step(rec);
        if let Some(now) = step.tick {
            self.held.ticks.push((self.events.len() as u32, now));
        }
        if let Some(ev) = step.event {
            self.events.push(ev);
            self.held.lines.extend_from_slice(line);
            self.held.ends.push(self.held.lines.len());
        }
        self.events.len() >= self.batch_events
            || self.held.ticks.len() >= self.batch_events
            || self.held.lines.len() >= self.batch_bytes
    }

    /// Send the current batch to the workers, merging the oldest batches
    /// in flight beyond the pipeline depth. `parser` re-reads the lines of
    /// events with findings (for sample ids); it must be the parser that
    /// read them, so call [`Parallel::drain`] before switching inputs.
    pub fn send(
        &mut self,
        engine: &mut Engine,
        parser: &mut dyn LineParser,
        sink: &mut dyn AlertSink,
    ) -> io::Result<()> {
        if self.events.is_empty() && self.held.ticks.is_empty() {
            return Ok(());
        }
        let router = &engine.front.router;
        let new_routes = (self.routes_sent..router.len())
            .map(|i| router.info(i as RouteId).clone())
            .collect();
        self.routes_sent = router.len();
        let batch = Arc::new(Batch {
            events: std::mem::replace(&mut self.events, Vec::with_capacity(self.batch_events)),
            ticks: self.held.ticks.clone(),
            new_routes,
        });
        for w in &self.workers {
            w.tx.send(Msg::Batch(batch.clone()))
                .map_err(|_| worker_died())?;
        }
        let next = self.spare.pop().unwrap_or_default();
        self.pending_bytes += self.held.lines.len();
        self.pending
            .push_back(std::mem::replace(&mut self.held, next));
        // Long lines (a raised --max-line-bytes) fill a batch each: merge
        // by bytes too, so that DEPTH of them are not held at once.
        while self.pending.len() > DEPTH || self.pending_bytes > DEPTH * self.batch_bytes {
            self.merge_one(engine, parser, sink)?;
        }
        Ok(())
    }

    /// Send what is batched and merge everything in flight.
    pub fn drain(
        &mut self,
        engine: &mut Engine,
        parser: &mut dyn LineParser,
        sink: &mut dyn AlertSink,
    ) -> io::Result<()> {
        self.send(engine, parser, sink)?;
        while !self.pending.is_empty() {
            self.merge_one(engine, parser, sink)?;
        }
        Ok(())
    }

    /// Stop the workers and give the shards back to the engine. Call after
    /// [`Parallel::drain`].
    pub fn stop(self, engine: &mut Engine) -> io::Result<()> {
        debug_assert!(self.pending.is_empty() && self.events.is_empty());
        let mut shards = Vec::new();
        for w in self.workers {
            w.tx.send(Msg::Finish).map_err(|_| worker_died())?;
            loop {
                match w.rx.recv().map_err(|_| worker_died())? {
                    Reply::Shards(s) => {
                        shards.extend(s);
                        break;
                    }
                    Reply::Findings(_) => {}
                }
            }
            w.handle.join().map_err(|_| worker_died())?;
        }
        shards.sort_by_key(|s| s.index);
        engine.shards = shards;
        Ok(())
    }

    fn merge_one(
        &mut self,
        engine: &mut Engine,
        parser: &mut dyn LineParser,
        sink: &mut dyn AlertSink,
    ) -> io::Result<()> {
        let mut held = self.pending.pop_front().expect("a batch in flight");
        self.pending_bytes -= held.lines.len();
        let mut found = Vec::new();
        for w in &self.workers {
            match w.rx.recv().map_err(|_| worker_died())? {
                Reply::Findings(f) => found.extend(f),
                Reply::Shards(_) => return Err(worker_died()),
            }
        }
        shard::sort(&mut found);
        let mut found = found.into_iter().peekable();
        let mut ticks = held.ticks.iter().peekable();
        loop {
            // Ticks at position p run before the findings of event p.
            let next_event = found.peek().map(|t| t.event);
            match (ticks.peek(), next_event) {
                (Some(&&(p, now)), e) if e.is_none_or(|e| p <= e) => {
                    ticks.next();
                    engine.expire(now, sink)?;
                }
                (_, Some(e)) => {
                    let mut group = Vec::new();
                    while found.peek().is_some_and(|t| t.event == e) {
                        group.push(found.next().expect("peeked"));
                    }
                    let start = if e == 0 { 0 } else { held.ends[e as usize - 1] };
                    let line = &held.lines[start..held.ends[e as usize]];
                    let shown = parser
                        .parse(line)
                        // It parsed before; Shown::default() if it no longer does.
                        .map_or_else(|_| Shown::default(), |r| Shown::of(&r));
                    engine.apply(group.into_iter(), line, shown, sink)?;
                }
                (None, None) => break,
                (Some(_), None) => unreachable!("handled by the first arm"),
            }
        }
        held.ticks.clear();
        held.lines.clear();
        held.ends.clear();
        // A buffer that took a long line gives the room back: the spare
        // buffers are counted by their batches' shares.
        if held.lines.capacity() > 2 * self.batch_bytes {
            held.lines = Vec::new();
        }
        self.spare.push(held);
        Ok(())
    }
}

/// Bytes a batch holds per event: the event, its line's end offset, and a
/// tick at most (kept by the reader and sent to the workers).
const PER_EVENT: usize = std::mem::size_of::<Event>()
    + std::mem::size_of::<usize>()
    + 2 * std::mem::size_of::<(u32, Timestamp)>();

/// Events and line bytes per batch for about `in_flight` bytes of batches
/// out: half of a batch's share for its events, half for its lines. The
/// floors are small, so that at the smallest memory ceiling the batches
/// out (`DEPTH` merged ones, the one being filled and a spare) still fit.
fn batch_size(in_flight: usize) -> (usize, usize) {
    let share = in_flight / (DEPTH + 2) / 2;
    let events = (share / PER_EVENT).clamp(64, BATCH_EVENTS);
    (events, share.clamp(8 << 10, BATCH_BYTES))
}

fn worker_died() -> io::Error {
    io::Error::other("a detector worker thread stopped unexpectedly")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What `DEPTH + 2` full batches hold (events, ticks and lines) stays
    /// within the bytes allowed in flight, from the 32 MB floor (2 MB out)
    /// up.
    #[test]
    fn batches_in_flight_fit_their_share() {
        for mb in [2, 4, 16, 64] {
            let in_flight = mb << 20;
            let (events, bytes) = batch_size(in_flight);
            let held = (DEPTH + 2) * (events * PER_EVENT + bytes);
            assert!(held <= in_flight, "{mb} MB: {held} bytes held");
        }
        // At the default ceiling a batch of ordinary lines (about 200
        // bytes) is cut by its bytes, not its events.
        let (events, bytes) = batch_size(16 << 20);
        assert!(
            bytes >= 120 << 10 && events * 200 >= bytes,
            "{events} {bytes}"
        );
    }
}
