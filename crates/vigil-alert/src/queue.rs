//! Bounded queues with the delivery drop policy.
//!
//! Policy when full: the oldest *droppable* item (an event `update`, superseded by the next message of the
//! same event anyway) is dropped first; a non-droppable item (`start`, `end`, an output trigger) is dropped
//! only when the queue holds nothing else, and then the oldest one goes. Every drop is counted.

use std::collections::VecDeque;
use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// Items that say whether they may be dropped before others.
pub(crate) trait Droppable {
    /// True for items dropped first when the queue is full.
    fn droppable(&self) -> bool;
}

/// A FIFO with a capacity and the drop policy above.
#[derive(Debug)]
pub(crate) struct BoundedDeque<T> {
    items: VecDeque<T>,
    cap: usize,
    droppables: usize,
    /// Droppable items dropped so far.
    pub dropped_droppable: u64,
    /// Non-droppable items dropped so far.
    pub dropped_critical: u64,
}

impl<T: Droppable> BoundedDeque<T> {
    /// An empty queue holding at most `cap` items (at least 1).
    pub fn new(cap: usize) -> Self {
        Self {
            items: VecDeque::new(),
            cap: cap.max(1),
            droppables: 0,
            dropped_droppable: 0,
            dropped_critical: 0,
        }
    }

    /// Items queued.
    pub fn len(&self) -> usize {
        self.items.len()
    }

    /// True when nothing is queued.
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// Appends an item; returns what had to be dropped to make room (possibly the item itself).
    pub fn push_back(&mut self, item: T) -> Option<T> {
        if self.items.len() < self.cap {
            self.count_in(&item);
            self.items.push_back(item);
            return None;
        }
        if self.droppables == 0 && item.droppable() {
            self.dropped_droppable += 1;
            return Some(item);
        }
        let dropped = self.drop_one();
        self.count_in(&item);
        self.items.push_back(item);
        dropped
    }

    /// Puts items back at the front in their order (retries after a lost connection), then drops by the
    /// policy until the queue fits; returns what was dropped.
    pub fn push_front_all(&mut self, items: Vec<T>) -> Vec<T> {
        for item in items.into_iter().rev() {
            self.count_in(&item);
            self.items.push_front(item);
        }
        let mut dropped = Vec::new();
        while self.items.len() > self.cap {
            if let Some(d) = self.drop_one() {
                dropped.push(d);
            }
        }
        dropped
    }

    /// Takes the oldest item.
    pub fn pop_front(&mut self) -> Option<T> {
        let item = self.items.pop_front()?;
        if item.droppable() {
            self.droppables -= 1;
        }
        Some(item)
    }

    /// Takes every item, oldest first.
    pub fn drain_all(&mut self) -> Vec<T> {
        self.droppables = 0;
        self.items.drain(..).collect()
    }

    fn count_in(&mut self, item: &T) {
        if item.droppable() {
            self.droppables += 1;
        }
    }

    fn drop_one(&mut self) -> Option<T> {
        if self.droppables > 0 {
            let i = self.items.iter().position(Droppable::droppable)?;
            self.droppables -= 1;
            self.dropped_droppable += 1;
            self.items.remove(i)
        } else {
            self.dropped_critical += 1;
            self.items.pop_front()
        }
    }
}

/// A [`BoundedDeque`] shared between producers and one blocking worker thread, with a shutdown deadline.
#[derive(Debug)]
pub(crate) struct WorkQueue<T> {
    state: Mutex<WorkState<T>>,
    cv: Condvar,
}

#[derive(Debug)]
pub(crate) struct WorkState<T> {
    pub q: BoundedDeque<T>,
    /// Set by shutdown: no new items; the worker finishes what it can before the deadline.
    pub deadline: Option<Instant>,
}

impl<T: Droppable> WorkQueue<T> {
    /// An empty queue of capacity `cap`.
    pub fn new(cap: usize) -> Self {
        Self {
            state: Mutex::new(WorkState {
                q: BoundedDeque::new(cap),
                deadline: None,
            }),
            cv: Condvar::new(),
        }
    }

    /// Locks the state (a worker that panicked does not poison delivery for the others).
    pub fn lock(&self) -> MutexGuard<'_, WorkState<T>> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Queues an item; `Err(item)` after shutdown; `Ok(Some(dropped))` when the policy dropped something.
    pub fn push(&self, item: T) -> Result<Option<T>, T> {
        let mut s = self.lock();
        if s.deadline.is_some() {
            return Err(item);
        }
        let dropped = s.q.push_back(item);
        drop(s);
        self.cv.notify_all();
        Ok(dropped)
    }

    /// Waits for the next item; `None` once shut down and empty, or when the deadline has passed (the
    /// items left are then returned by [`WorkQueue::drain_all`]).
    pub fn pop(&self) -> Option<T> {
        let mut s = self.lock();
        loop {
            if let Some(d) = s.deadline
                && Instant::now() >= d
            {
                return None;
            }
            if let Some(item) = s.q.pop_front() {
                return Some(item);
            }
            if s.deadline.is_some() {
                return None;
            }
            s = self.cv.wait(s).unwrap_or_else(|p| p.into_inner());
        }
    }

    /// Takes everything left.
    pub fn drain_all(&self) -> Vec<T> {
        self.lock().q.drain_all()
    }

    /// Stops taking items and sets the time by which the worker must be done.
    pub fn close(&self, deadline: Instant) {
        self.lock().deadline = Some(deadline);
        self.cv.notify_all();
    }

    /// Sleeps for `dur` or until shutdown begins (a retry wait that must not hold up shutdown). Returns the
    /// shutdown deadline if there is one.
    pub fn sleep(&self, dur: Duration) -> Option<Instant> {
        let until = Instant::now() + dur;
        let mut s = self.lock();
        loop {
            if s.deadline.is_some() {
                return s.deadline;
            }
            let now = Instant::now();
            if now >= until {
                return None;
            }
            s = self
                .cv
                .wait_timeout(s, until - now)
                .map(|(g, _)| g)
                .unwrap_or_else(|p| p.into_inner().0);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Clone, Copy, PartialEq)]
    enum M {
        Start(u32),
        Update(u32),
        End(u32),
    }

    impl Droppable for M {
        fn droppable(&self) -> bool {
            matches!(self, M::Update(_))
        }
    }

    fn contents(q: &mut BoundedDeque<M>) -> Vec<M> {
        let v = q.drain_all();
        for m in &v {
            q.push_back(*m);
        }
        v
    }

    #[test]
    fn full_queue_drops_the_oldest_update_first() {
        let mut q = BoundedDeque::new(4);
        for m in [M::Start(1), M::Update(1), M::Update(2), M::End(1)] {
            assert_eq!(q.push_back(m), None);
        }
        assert_eq!(q.push_back(M::Start(2)), Some(M::Update(1)));
        assert_eq!(q.push_back(M::End(2)), Some(M::Update(2)));
        assert_eq!(
            contents(&mut q),
            vec![M::Start(1), M::End(1), M::Start(2), M::End(2)]
        );
        assert_eq!((q.dropped_droppable, q.dropped_critical), (2, 0));
    }

    #[test]
    fn starts_and_ends_go_only_when_nothing_else_is_left() {
        let mut q = BoundedDeque::new(2);
        q.push_back(M::Start(1));
        q.push_back(M::End(1));
        // An update cannot push out a start or an end: the update itself is dropped.
        assert_eq!(q.push_back(M::Update(3)), Some(M::Update(3)));
        // A start pushes out the oldest start/end.
        assert_eq!(q.push_back(M::Start(2)), Some(M::Start(1)));
        assert_eq!(contents(&mut q), vec![M::End(1), M::Start(2)]);
        assert_eq!((q.dropped_droppable, q.dropped_critical), (1, 1));
    }

    #[test]
    fn items_put_back_keep_their_order_and_the_policy_trims() {
        let mut q = BoundedDeque::new(3);
        q.push_back(M::Start(3));
        q.push_back(M::Update(3));
        let dropped = q.push_front_all(vec![M::Start(1), M::Update(1)]);
        assert_eq!(dropped, vec![M::Update(1)]);
        assert_eq!(
            contents(&mut q),
            vec![M::Start(1), M::Start(3), M::Update(3)]
        );
        assert_eq!(q.pop_front(), Some(M::Start(1)));
        assert_eq!(q.len(), 2);
    }

    #[test]
    fn work_queue_refuses_after_close_and_sleep_wakes_on_close() {
        let q = std::sync::Arc::new(WorkQueue::new(4));
        assert!(q.push(M::Start(1)).is_ok());
        let q2 = q.clone();
        let t = std::thread::spawn(move || q2.sleep(Duration::from_secs(30)));
        std::thread::sleep(Duration::from_millis(50));
        let deadline = Instant::now() + Duration::from_secs(5);
        q.close(deadline);
        assert_eq!(t.join().unwrap(), Some(deadline));
        assert!(q.push(M::Start(2)).is_err());
        assert_eq!(q.pop(), Some(M::Start(1)));
        assert_eq!(q.pop(), None);
    }
}
