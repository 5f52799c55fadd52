//! The summary and plot material of a run, accumulated record by record, in bounded memory.
//!
//! A run of at most [`EXACT_LIMIT`] functions is kept whole and summarised exactly as
//! [`Summary::from_records`] does (same figures, same bytes). Beyond, the records already kept
//! are replayed into streaming accumulators and dropped, and memory stays at the size of what
//! is in flight:
//! - counts, minimum, maximum, makespan, start spread, `max_concurrency` and `cpu_seconds_used`
//!   are exact; `start_latency_mean_s`, `time_above_90pct_concurrency_s` and
//!   `cpu_seconds_reserved` are exact sums taken in another order (equal up to float
//!   rounding);
//! - `start_latency_p50/p95/p99_s` come from a [`QuantileSketch`] with relative error
//!   [`SKETCH_ALPHA`] (0.1 %) on the start time (= the latency: times count from the first
//!   submission);
//! - the concurrency curve is swept in time order as records come: a record's `t_submit` is a
//!   lower bound of every later record's times (records come in function-id order, which is
//!   submission order), so every edge before it is final;
//! - containers are summed when announced closed ([`RunAccumulator::container_closed`]), or
//!   at the end;
//! - the timeline draws a sample of [`TIMELINE_MAX_BARS`] functions chosen by a hash of their
//!   id (the same functions whatever else happens in the run) over the whole concurrency
//!   curve, binned; the boxplot draws the sketch.

use sim_core::idmap::{mix, IdMap};
use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};

use policies::{FunctionRecord, Status};

use super::plots::{LatencyBox, TimelineData, TIMELINE_MAX_BARS};
use super::sketch::QuantileSketch;
use super::summary::Summary;

/// Runs up to this many functions are summarised exactly, from all their records.
pub const EXACT_LIMIT: usize = 100_000;
/// Relative error of the streamed start-latency quantiles.
pub const SKETCH_ALPHA: f64 = 0.001;
/// Bins of the streamed concurrency curve drawn on the timeline.
const CURVE_BINS: usize = 2_000;

/// What a run's report is made of.
#[derive(Debug, Clone)]
pub struct RunFigures {
    pub summary: Summary,
    pub timeline: TimelineData,
    /// The start-latency box (its label is set by whoever draws it).
    pub latency: LatencyBox,
    /// True when the run was summarised streaming (above [`EXACT_LIMIT`] functions).
    pub streamed: bool,
}

/// Takes a run's records one by one (in function-id order for a streamed run) and makes its
/// [`RunFigures`].
#[derive(Debug)]
pub struct RunAccumulator {
    state: State,
}

#[derive(Debug)]
enum State {
    Exact(Vec<FunctionRecord>),
    Streaming(Box<Streaming>),
}

impl Default for RunAccumulator {
    fn default() -> Self {
        RunAccumulator {
            state: State::Exact(Vec::new()),
        }
    }
}

impl RunAccumulator {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds one record.
    pub fn push(&mut self, record: &FunctionRecord) {
        match &mut self.state {
            State::Exact(records) if records.len() < EXACT_LIMIT => records.push(record.clone()),
            State::Exact(records) => {
                let mut streaming = Box::new(Streaming::new());
                for r in records.drain(..) {
                    streaming.push(&r);
                }
                streaming.push(record);
                self.state = State::Streaming(streaming);
            }
            State::Streaming(s) => s.push(record),
        }
    }

    /// No later record names `container`: its figures can be summed and dropped.
    pub fn container_closed(&mut self, container: u64) {
        if let State::Streaming(s) = &mut self.state {
            s.close(container);
        }
    }

    /// The figures; an error when a streamed run's records broke submission order (the
    /// streamed concurrency curve relies on it).
    pub fn finish(self) -> Result<RunFigures, String> {
        match self.state {
            State::Exact(records) => Ok(RunFigures {
                summary: Summary::from_records(&records),
                timeline: TimelineData::from_records(&records),
                latency: LatencyBox::from_records("", &records),
                streamed: false,
            }),
            State::Streaming(s) => s.finish(),
        }
    }
}

/// A run that writes no record file: the accumulator is the whole sink.
impl sim_core::RecordSink for RunAccumulator {
    fn record(&mut self, record: FunctionRecord) -> Result<(), sim_core::SinkError> {
        self.push(&record);
        Ok(())
    }

    fn container_closed(&mut self, container: u64) -> Result<(), sim_core::SinkError> {
        RunAccumulator::container_closed(self, container);
        Ok(())
    }
}

/// One container's figures while it may still run functions.
#[derive(Debug)]
struct ContainerUse {
    cold: bool,
    first_ready: f64,
    last_end: f64,
    /// Most functions it ran at once, over the spans already folded.
    width: u64,
    /// Spans that may still overlap a later one, and their latest end.
    spans: Vec<(f64, f64)>,
    spans_end: f64,
}

impl ContainerUse {
    fn new() -> Self {
        ContainerUse {
            cold: false,
            first_ready: f64::INFINITY,
            last_end: f64::NEG_INFINITY,
            width: 0,
            spans: Vec::new(),
            spans_end: f64::NEG_INFINITY,
        }
    }

    /// Adds a span `[start, end)`. A container runs one message at a time and a message's
    /// workers start in order, so once a span starts after every buffered one has ended, no
    /// later span overlaps those: their overlap is folded into `width` and they are dropped.
    fn add_span(&mut self, start: f64, end: f64) {
        self.last_end = self.last_end.max(end);
        if end <= start {
            return;
        }
        if start >= self.spans_end {
            self.fold();
        }
        self.spans.push((start, end));
        self.spans_end = self.spans_end.max(end);
    }

    fn fold(&mut self) {
        if !self.spans.is_empty() {
            let width = max_overlap(&mut self.spans);
            self.width = self.width.max(width);
            self.spans.clear();
        }
    }

    /// `width * (last end - first ready)`, when both are known.
    fn reserved(&mut self) -> Option<f64> {
        self.fold();
        (self.first_ready.is_finite() && self.last_end.is_finite())
            .then(|| self.width as f64 * (self.last_end - self.first_ready).max(0.0))
    }
}

/// Most spans open at once (an end at a start is no overlap).
fn max_overlap(spans: &mut [(f64, f64)]) -> u64 {
    if spans.len() == 1 {
        return 1;
    }
    if spans.windows(2).all(|w| w[0].0 <= w[1].0) {
        // Starts in order (a message's workers start one after another): at each start, the
        // spans still open are those of the ends not yet reached, kept in a min-heap.
        let mut open = BinaryHeap::with_capacity(spans.len());
        let mut max = 0;
        for &(start, end) in spans.iter() {
            while open
                .peek()
                .is_some_and(|Reverse(OrderedEnd(e))| *e <= start)
            {
                open.pop();
            }
            open.push(Reverse(OrderedEnd(end)));
            max = max.max(open.len());
        }
        return max as u64;
    }
    let mut edges: Vec<(f64, i8)> = spans
        .iter()
        .flat_map(|&(s, e)| [(s, 1i8), (e, -1i8)])
        .collect();
    edges.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
    let (mut level, mut max) = (0i64, 0i64);
    for (_, d) in edges {
        level += i64::from(d);
        max = max.max(level);
    }
    max as u64
}

/// A span's end in a heap (times are finite).
#[derive(Debug, Clone, Copy, PartialEq)]
struct OrderedEnd(f64);

impl Eq for OrderedEnd {}

impl PartialOrd for OrderedEnd {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for OrderedEnd {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.0.total_cmp(&other.0)
    }
}

/// A function drawn on the timeline: (t_submit, t_start, t_end, invoker, function id).
type SampleRow = (f64, f64, f64, u32, u64);

/// The running figures of a streamed run.
#[derive(Debug)]
struct Streaming {
    functions: u64,
    ok: u64,
    rejected: u64,
    failed: u64,
    cold_functions: u64,
    /// First submission (the records' time zero).
    t0: f64,
    /// The latest `t_submit`: no later record has a time before it.
    watermark: f64,
    order_error: Option<String>,
    latency: QuantileSketch,
    start_min: f64,
    start_max: f64,
    /// Sum of the start times of ok functions (Neumaier compensated).
    start_sum: f64,
    start_sum_c: f64,
    end_max: f64,
    cpu_used: f64,
    curve: CurveSweep,
    containers: IdMap<u64, ContainerUse>,
    containers_closed: u64,
    cold_containers: u64,
    cpu_reserved: f64,
    /// The sample of the timeline: the functions with the smallest id hashes, largest on top.
    sample: BinaryHeap<(u64, SampleKey)>,
    t_max: f64,
}

/// A sample row ordered by function id only (the hash decides first; ids are unique).
#[derive(Debug, Clone, Copy)]
struct SampleKey(SampleRow);

impl PartialEq for SampleKey {
    fn eq(&self, other: &Self) -> bool {
        self.0 .4 == other.0 .4
    }
}
impl Eq for SampleKey {}
impl PartialOrd for SampleKey {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for SampleKey {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.0 .4.cmp(&other.0 .4)
    }
}

impl Streaming {
    fn new() -> Self {
        Streaming {
            functions: 0,
            ok: 0,
            rejected: 0,
            failed: 0,
            cold_functions: 0,
            t0: f64::INFINITY,
            watermark: f64::NEG_INFINITY,
            order_error: None,
            latency: QuantileSketch::new(SKETCH_ALPHA),
            start_min: f64::INFINITY,
            start_max: f64::NEG_INFINITY,
            start_sum: 0.0,
            start_sum_c: 0.0,
            end_max: f64::NAN,
            cpu_used: 0.0,
            curve: CurveSweep::new(),
            containers: HashMap::default(),
            containers_closed: 0,
            cold_containers: 0,
            cpu_reserved: 0.0,
            sample: BinaryHeap::with_capacity(TIMELINE_MAX_BARS + 1),
            t_max: 0.0,
        }
    }

    fn push(&mut self, r: &FunctionRecord) {
        self.functions += 1;
        match r.status() {
            Status::Ok => self.ok += 1,
            Status::Rejected => self.rejected += 1,
            Status::Failed => self.failed += 1,
        }
        self.cold_functions += u64::from(r.cold);
        if r.t_submit.is_finite() {
            if r.t_submit < self.watermark && self.order_error.is_none() {
                self.order_error = Some(format!(
                    "function {} was submitted at {} s, before an earlier function ({} s): the \
                     streamed summary needs records in submission order",
                    r.function_id, r.t_submit, self.watermark
                ));
            }
            self.watermark = self.watermark.max(r.t_submit);
            self.t0 = self.t0.min(r.t_submit);
            self.t_max = self.t_max.max(r.t_submit);
        }
        if r.attempt > 0 && self.order_error.is_none() {
            self.order_error = Some(format!(
                "function {} has a re-run (attempt {}): runs with re-runs are summarised in \
                 memory (at most {EXACT_LIMIT} records), not streamed",
                r.function_id, r.attempt
            ));
        }
        let ran = r.t_start.is_finite() && r.t_end.is_finite();
        if r.t_end.is_finite() {
            self.t_max = self.t_max.max(r.t_end);
        }
        // Start latencies: `ok` functions that started ([`policies::start_latencies`]).
        if r.is_ok() && r.t_start.is_finite() {
            self.latency.add(r.t_start);
            self.start_min = self.start_min.min(r.t_start);
            self.start_max = self.start_max.max(r.t_start);
            // Neumaier: the sum of a hundred million starts keeps its digits.
            let t = self.start_sum + r.t_start;
            self.start_sum_c += if self.start_sum.abs() >= r.t_start.abs() {
                (self.start_sum - t) + r.t_start
            } else {
                (r.t_start - t) + self.start_sum
            };
            self.start_sum = t;
        }
        if ran {
            self.end_max = self.end_max.max(r.t_end);
            if r.is_ok() {
                self.cpu_used += r.t_end - r.t_start;
            }
            if r.t_start < self.curve.swept_to && self.order_error.is_none() {
                self.order_error = Some(format!(
                    "function {} started at {} s, before the concurrency curve was final ({} s): \
                     the streamed summary needs records in submission order",
                    r.function_id, r.t_start, self.curve.swept_to
                ));
            }
            self.curve.add(r.t_start, r.t_end);
            let key = mix(r.function_id);
            let row = (r.t_submit, r.t_start, r.t_end, r.invoker, r.function_id);
            if self.sample.len() < TIMELINE_MAX_BARS {
                self.sample.push((key, SampleKey(row)));
            } else if self.sample.peek().is_some_and(|top| key < top.0) {
                self.sample.pop();
                self.sample.push((key, SampleKey(row)));
            }
        }
        self.curve.sweep_before(self.watermark);
        if r.container != u64::MAX {
            let c = self
                .containers
                .entry(r.container)
                .or_insert_with(ContainerUse::new);
            c.cold |= r.cold;
            if r.t_container_ready.is_finite() {
                c.first_ready = c.first_ready.min(r.t_container_ready);
            }
            if ran {
                c.add_span(r.t_start, r.t_end);
            }
        }
    }

    fn close(&mut self, container: u64) {
        if let Some(mut c) = self.containers.remove(&container) {
            self.containers_closed += 1;
            self.cold_containers += u64::from(c.cold);
            if let Some(reserved) = c.reserved() {
                self.cpu_reserved += reserved;
            }
        }
    }

    fn finish(mut self) -> Result<RunFigures, String> {
        if let Some(e) = self.order_error.take() {
            return Err(e);
        }
        let mut open: Vec<u64> = self.containers.keys().copied().collect();
        open.sort_unstable();
        for id in open {
            self.close(id);
        }
        self.curve.sweep_all();
        let t0 = if self.t0.is_finite() { self.t0 } else { 0.0 };
        let n = self.latency.count();
        let (lo, hi) = (self.start_min - t0, self.start_max - t0);
        let quantile = |p: f64| self.latency.percentile(p) - t0;
        let max_concurrency = self.curve.max;
        let threshold = (0.9 * max_concurrency as f64).ceil() as u64;
        let time_above = if max_concurrency == 0 {
            0.0
        } else {
            self.curve.time_at_or_above(threshold)
        };
        let summary = Summary {
            functions: self.functions,
            ok: self.ok,
            rejected: self.rejected,
            failed: self.failed,
            containers: self.containers_closed,
            cold_starts: self.cold_containers,
            cold_functions: self.cold_functions,
            makespan_s: self.end_max - t0,
            start_latency_min_s: if n > 0 { lo } else { f64::NAN },
            start_latency_mean_s: if n > 0 {
                (self.start_sum + self.start_sum_c) / n as f64 - t0
            } else {
                f64::NAN
            },
            start_latency_p50_s: quantile(50.0),
            start_latency_p95_s: quantile(95.0),
            start_latency_p99_s: quantile(99.0),
            start_latency_max_s: if n > 0 { hi } else { f64::NAN },
            start_spread_s: if n > 0 { hi - lo } else { f64::NAN },
            max_concurrency,
            time_above_90pct_concurrency_s: time_above,
            cpu_seconds_reserved: self.cpu_reserved,
            cpu_seconds_used: self.cpu_used,
        };
        let mut rows: Vec<SampleRow> = self.sample.into_iter().map(|(_, k)| k.0).collect();
        rows.sort_by(|a, b| a.1.total_cmp(&b.1).then(a.4.cmp(&b.4)));
        let ran = self.curve.ran;
        let timeline = TimelineData::sampled(
            rows.iter().map(|r| (r.0, r.1, r.2, r.3)).collect(),
            ran,
            self.curve.plot.points(self.t_max),
            max_concurrency,
            self.t_max,
        );
        Ok(RunFigures {
            summary,
            timeline,
            latency: LatencyBox::from_sketch("", &self.latency, t0),
            streamed: true,
        })
    }
}

/// The concurrency curve swept in time order. Edges wait unsorted; once their number has
/// doubled since the last sweep, those before the bound (no later record can add an edge
/// before it) are taken out, sorted and applied: O(log n) per edge, memory twice what is
/// pending.
#[derive(Debug)]
struct CurveSweep {
    /// Pending edges as `time bits * 2 + (1 for a start)`: times are >= 0, whose bits order
    /// like the numbers, and at equal times ends come first.
    pending: Vec<u64>,
    /// Sweep when `pending` reaches this length.
    next_sweep: usize,
    /// The latest bound offered: every pending edge before it is final.
    bound: f64,
    /// Everything before this time has been swept.
    swept_to: f64,
    level: u64,
    /// The level from the last step on.
    previous_level: u64,
    max: u64,
    /// Time of the last step (NaN before the first).
    last_time: f64,
    /// Time spent at each level.
    level_time: Vec<f64>,
    ran: usize,
    plot: BinnedCurve,
}

/// The least pending edges worth a sweep.
const SWEEP_MIN: usize = 4_096;

impl CurveSweep {
    fn new() -> Self {
        CurveSweep {
            pending: Vec::new(),
            next_sweep: SWEEP_MIN,
            bound: f64::NEG_INFINITY,
            swept_to: f64::NEG_INFINITY,
            level: 0,
            previous_level: 0,
            max: 0,
            last_time: f64::NAN,
            level_time: Vec::new(),
            ran: 0,
            plot: BinnedCurve::new(),
        }
    }

    fn key(time: f64, start: bool) -> u64 {
        // `+ 0.0` turns -0.0 into 0.0.
        ((time + 0.0).max(0.0).to_bits() << 1) | u64::from(start)
    }

    fn add(&mut self, start: f64, end: f64) {
        self.ran += 1;
        if end > start {
            self.pending.push(Self::key(start, true));
            self.pending.push(Self::key(end, false));
        }
    }

    /// No later edge comes before `bound`: sweeps what is before it once enough is pending.
    #[inline]
    fn sweep_before(&mut self, bound: f64) {
        self.bound = self.bound.max(bound);
        if self.pending.len() >= self.next_sweep {
            self.sweep();
        }
    }

    /// Applies every pending edge before the bound, in order; edges at one time make one
    /// step.
    fn sweep(&mut self) {
        let bound = Self::key(self.bound.max(0.0), false);
        let mut ready: Vec<u64> = Vec::new();
        if self.bound == f64::INFINITY {
            ready = std::mem::take(&mut self.pending);
        } else {
            self.pending.retain(|&k| {
                let keep = k >= bound;
                if !keep {
                    ready.push(k);
                }
                keep
            });
        }
        sort_keys(&mut ready);
        let mut i = 0;
        while i < ready.len() {
            let at = ready[i] >> 1;
            while i < ready.len() && ready[i] >> 1 == at {
                if ready[i] & 1 == 1 {
                    self.level += 1;
                } else {
                    self.level -= 1;
                }
                i += 1;
            }
            self.step(f64::from_bits(at));
        }
        self.swept_to = self.swept_to.max(self.bound);
        self.next_sweep = (2 * self.pending.len()).max(SWEEP_MIN);
    }

    /// Sweeps everything (the run is over).
    fn sweep_all(&mut self) {
        self.bound = f64::INFINITY;
        self.sweep();
    }

    fn step(&mut self, time: f64) {
        if self.last_time.is_finite() {
            let previous = self.previous_level;
            if self.level_time.len() <= previous as usize {
                self.level_time.resize(previous as usize + 1, 0.0);
            }
            self.level_time[previous as usize] += time - self.last_time;
        }
        self.last_time = time;
        self.previous_level = self.level;
        self.max = self.max.max(self.level);
        self.plot.step(time, self.level);
    }

    fn time_at_or_above(&self, threshold: u64) -> f64 {
        self.level_time.iter().skip(threshold as usize).sum()
    }
}

/// Sorts `keys` ascending: a byte-wise radix sort when there are many (a burst's million
/// edges wait for one sweep at the end), else the standard sort.
fn sort_keys(keys: &mut Vec<u64>) {
    const RADIX_MIN: usize = 1 << 16;
    if keys.len() < RADIX_MIN {
        keys.sort_unstable();
        return;
    }
    let mut counts = [[0usize; 256]; 8];
    for &k in keys.iter() {
        for (byte, count) in counts.iter_mut().enumerate() {
            count[(k >> (8 * byte)) as usize & 0xff] += 1;
        }
    }
    let mut buffer = vec![0u64; keys.len()];
    for (byte, count) in counts.iter().enumerate() {
        if count.contains(&keys.len()) {
            // Every key has this byte: the pass would change nothing.
            continue;
        }
        let mut next = [0usize; 256];
        let mut sum = 0;
        for (slot, &c) in next.iter_mut().zip(count.iter()) {
            *slot = sum;
            sum += c;
        }
        for &k in keys.iter() {
            let digit = (k >> (8 * byte)) as usize & 0xff;
            buffer[next[digit]] = k;
            next[digit] += 1;
        }
        std::mem::swap(keys, &mut buffer);
    }
}

/// The concurrency curve for the timeline: the highest level of each of [`CURVE_BINS`] bins of
/// equal width from time 0, the width doubling (bins merged in pairs) whenever time runs past
/// the last bin.
#[derive(Debug)]
struct BinnedCurve {
    width: f64,
    peaks: Vec<u64>,
    /// The bin of the last step, and the level from it on.
    bin: usize,
    level: u64,
}

impl BinnedCurve {
    fn new() -> Self {
        BinnedCurve {
            // 1 us: doubled as needed (a day of simulated time takes 36 doublings).
            width: 1e-6,
            peaks: vec![0; CURVE_BINS],
            bin: 0,
            level: 0,
        }
    }

    fn bin_of(&mut self, time: f64) -> usize {
        loop {
            let b = (time.max(0.0) / self.width) as usize;
            if b < CURVE_BINS {
                return b;
            }
            for i in 0..CURVE_BINS / 2 {
                self.peaks[i] = self.peaks[2 * i].max(self.peaks[2 * i + 1]);
            }
            self.peaks[CURVE_BINS / 2..].fill(0);
            self.bin /= 2;
            self.width *= 2.0;
        }
    }

    fn step(&mut self, time: f64, level: u64) {
        let b = self.bin_of(time);
        // The bins passed since the last step ran at the last level.
        for peak in &mut self.peaks[self.bin + 1..=b.max(self.bin)] {
            *peak = (*peak).max(self.level);
        }
        self.bin = self.bin.max(b);
        self.peaks[b] = self.peaks[b].max(level);
        self.level = level;
    }

    /// Step-line points from 0 to `t_max`.
    fn points(&mut self, t_max: f64) -> Vec<(f64, f64)> {
        let last = self.bin_of(t_max);
        let mut points = Vec::with_capacity(2 * (last + 1) + 1);
        points.push((0.0, 0.0));
        for (b, &peak) in self.peaks[..=last].iter().enumerate() {
            let peak = if b > self.bin { self.level } else { peak };
            points.push((b as f64 * self.width, peak as f64));
            points.push(((b + 1) as f64 * self.width, peak as f64));
        }
        points
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::tests::synthetic;

    /// Records of a streamed-size FaaS-like run: submitted every ms, starting after a varying
    /// delay, containers of one function reused in turn.
    fn faas_like(n: u64) -> Vec<FunctionRecord> {
        (0..n)
            .map(|i| {
                let submit = i as f64 * 0.001;
                let start = submit + 0.5 * ((i * 7919) % 13) as f64 / 13.0;
                let mut r = synthetic(1).remove(0);
                r.function_id = i;
                r.worker_id = 0;
                r.burst_id = i;
                r.container = i % 700;
                r.invoker = (i % 50) as u32;
                r.cold = i < 700;
                r.t_submit = submit;
                r.t_dispatch = submit;
                r.t_container_ready = start;
                r.t_start = start;
                r.t_end = start + 0.2 + (i % 5) as f64 * 0.1;
                if i % 1000 == 999 {
                    r.outcome = policies::Outcome::rejected("full");
                    (r.container, r.t_container_ready, r.t_start, r.t_end) =
                        (u64::MAX, f64::NAN, f64::NAN, f64::NAN);
                }
                r
            })
            .collect()
    }

    fn close(a: f64, b: f64, rel: f64) -> bool {
        (a - b).abs() <= rel * a.abs().max(b.abs()) + 1e-12
    }

    #[test]
    fn small_runs_are_summarised_exactly() {
        let records = synthetic(500);
        let mut acc = RunAccumulator::new();
        records.iter().for_each(|r| acc.push(r));
        let figures = acc.finish().unwrap();
        assert!(!figures.streamed);
        assert_eq!(figures.summary, Summary::from_records(&records));
    }

    #[test]
    fn streamed_figures_match_the_exact_ones() {
        let records = faas_like(EXACT_LIMIT as u64 + 50_000);
        let exact = Summary::from_records(&records);
        let mut acc = RunAccumulator::new();
        records.iter().for_each(|r| acc.push(r));
        let figures = acc.finish().unwrap();
        assert!(figures.streamed);
        let s = figures.summary;
        // Exact figures.
        assert_eq!(
            (s.functions, s.ok, s.rejected, s.failed, s.cold_functions),
            (
                exact.functions,
                exact.ok,
                exact.rejected,
                exact.failed,
                exact.cold_functions
            )
        );
        assert_eq!(
            (s.containers, s.cold_starts),
            (exact.containers, exact.cold_starts)
        );
        assert_eq!(s.makespan_s, exact.makespan_s);
        assert_eq!(s.start_latency_min_s, exact.start_latency_min_s);
        assert_eq!(s.start_latency_max_s, exact.start_latency_max_s);
        assert_eq!(s.start_spread_s, exact.start_spread_s);
        assert_eq!(s.max_concurrency, exact.max_concurrency);
        assert_eq!(s.cpu_seconds_used, exact.cpu_seconds_used);
        // Sums in another order.
        assert!(close(
            s.start_latency_mean_s,
            exact.start_latency_mean_s,
            1e-12
        ));
        assert!(close(
            s.time_above_90pct_concurrency_s,
            exact.time_above_90pct_concurrency_s,
            1e-9
        ));
        assert!(close(
            s.cpu_seconds_reserved,
            exact.cpu_seconds_reserved,
            1e-9
        ));
        // The sketch's bound.
        for (got, want) in [
            (s.start_latency_p50_s, exact.start_latency_p50_s),
            (s.start_latency_p95_s, exact.start_latency_p95_s),
            (s.start_latency_p99_s, exact.start_latency_p99_s),
        ] {
            assert!(close(got, want, SKETCH_ALPHA), "{got} vs {want}");
        }
        // The timeline: a bounded sample, the whole curve.
        assert_eq!(figures.timeline.drawn(), TIMELINE_MAX_BARS);
        assert!(figures.timeline.note().contains("sample"));
    }

    #[test]
    fn closing_containers_early_changes_nothing_but_memory() {
        let records = faas_like(EXACT_LIMIT as u64 + 20_000);
        let (mut a, mut b) = (RunAccumulator::new(), RunAccumulator::new());
        // Container c's last function is the last i with i % 700 == c.
        let last = records.len() as u64 - 1;
        for r in &records {
            a.push(r);
            b.push(r);
            if r.function_id + 700 > last {
                b.container_closed(r.function_id % 700);
            }
        }
        let (a, b) = (a.finish().unwrap(), b.finish().unwrap());
        assert_eq!(a.summary.containers, b.summary.containers);
        assert!(close(
            a.summary.cpu_seconds_reserved,
            b.summary.cpu_seconds_reserved,
            1e-9
        ));
    }

    #[test]
    fn records_out_of_submission_order_are_refused() {
        let mut records = faas_like(EXACT_LIMIT as u64 + 10);
        records.swap(EXACT_LIMIT + 2, EXACT_LIMIT + 8);
        let mut acc = RunAccumulator::new();
        records.iter().for_each(|r| acc.push(r));
        let err = acc.finish().unwrap_err();
        assert!(err.contains("submission order"), "{err}");
    }

    #[test]
    fn radix_sorted_keys_match_the_standard_sort() {
        let mut state = 0x9e37_79b9_7f4a_7c15u64;
        let mut keys: Vec<u64> = (0..200_000)
            .map(|i| {
                state = state
                    .wrapping_mul(6_364_136_223_846_793_005)
                    .wrapping_add(1);
                // Edge keys of times between 0 and 1000 s, some equal, both kinds.
                CurveSweep::key((state >> 40) as f64 / 16_777.216, i % 3 == 0)
            })
            .collect();
        let mut expected = keys.clone();
        expected.sort_unstable();
        sort_keys(&mut keys);
        assert_eq!(keys, expected);
    }

    #[test]
    fn max_overlap_with_starts_in_order_matches_the_edge_sweep() {
        let mut state = 7u64;
        for n in 2..60 {
            let mut start = 0.0;
            let mut spans: Vec<(f64, f64)> = (0..n)
                .map(|_| {
                    state = state
                        .wrapping_mul(6_364_136_223_846_793_005)
                        .wrapping_add(1);
                    start += ((state >> 60) % 3) as f64 * 0.5;
                    (start, start + ((state >> 50) % 7 + 1) as f64 * 0.5)
                })
                .collect();
            let in_order = max_overlap(&mut spans);
            // The same spans with one moved out of order take the edge sweep.
            spans.swap(0, n - 1);
            assert_eq!(in_order, max_overlap(&mut spans), "{n} spans");
        }
    }

    #[test]
    fn binned_curve_keeps_the_peak_of_each_bin() {
        let mut c = BinnedCurve::new();
        c.step(0.0, 1);
        c.step(0.5, 3);
        c.step(0.5000001, 2);
        c.step(10.0, 0);
        let points = c.points(10.0);
        let peak = points.iter().map(|p| p.1).fold(0.0, f64::max);
        assert_eq!(peak, 3.0);
        assert!(points.last().unwrap().0 >= 10.0);
        assert!(points.len() <= 2 * CURVE_BINS + 1);
    }
}
