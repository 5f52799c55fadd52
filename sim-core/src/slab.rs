//! A table whose rows are reused once freed: what keeps the engine's per-request, per-message
//! and per-container tables at the size of what is in flight, not of the whole run.

use std::ops::{Index, IndexMut};

/// Rows addressed by `u32` slot; a freed slot is handed out again (last freed first).
#[derive(Debug)]
pub(crate) struct Slab<T> {
    rows: Vec<T>,
    free: Vec<u32>,
    /// Freed slots are never handed out again (slot = insertion order).
    keep: bool,
}

impl<T> Default for Slab<T> {
    fn default() -> Self {
        Slab {
            rows: Vec::new(),
            free: Vec::new(),
            keep: false,
        }
    }
}

impl<T> Slab<T> {
    /// Stores `row` in a free slot (or a new one) and returns the slot.
    #[inline]
    pub fn insert(&mut self, row: T) -> u32 {
        self.insert_with(|_| row)
    }

    /// Stores the row `make` builds from the slot's previous row (`None` for a new slot).
    #[inline]
    pub fn insert_with(&mut self, make: impl FnOnce(Option<&T>) -> T) -> u32 {
        match self.free.pop() {
            Some(slot) => {
                let row = &mut self.rows[slot as usize];
                *row = make(Some(row));
                slot
            }
            None => {
                let slot = u32::try_from(self.rows.len()).expect("fewer than 2^32 rows in flight");
                self.rows.push(make(None));
                slot
            }
        }
    }

    /// Frees `slot`: the next insert may reuse it. The row stays readable until then.
    #[inline]
    pub fn remove(&mut self, slot: u32) {
        debug_assert!(!self.free.contains(&slot), "slot {slot} freed twice");
        if !self.keep {
            self.free.push(slot);
        }
    }

    /// From now on no slot is reused: slots number rows in insertion order for the whole run.
    pub fn keep_rows(&mut self) {
        self.keep = true;
        self.free.clear();
    }

    /// Slots ever allocated (in use or free): the table's high-water mark.
    pub fn capacity(&self) -> usize {
        self.rows.len()
    }

    /// Every row, in slot order (in insertion order after [`Slab::keep_rows`]).
    pub fn rows(&self) -> &[T] {
        &self.rows
    }

    /// Every row with its slot, in use or free.
    pub fn iter(&self) -> impl Iterator<Item = (u32, &T)> {
        self.rows.iter().enumerate().map(|(i, r)| (i as u32, r))
    }
}

impl<T> Index<usize> for Slab<T> {
    type Output = T;
    #[inline]
    fn index(&self, slot: usize) -> &T {
        &self.rows[slot]
    }
}

impl<T> IndexMut<usize> for Slab<T> {
    #[inline]
    fn index_mut(&mut self, slot: usize) -> &mut T {
        &mut self.rows[slot]
    }
}

#[cfg(test)]
mod tests {
    use super::Slab;

    #[test]
    fn freed_slots_are_reused_and_see_the_old_row() {
        let mut slab = Slab::default();
        let a = slab.insert(10);
        let b = slab.insert(20);
        assert_eq!((a, b), (0, 1));
        slab.remove(a);
        let c = slab.insert_with(|old| old.copied().unwrap_or(0) + 1);
        assert_eq!((c, slab[c as usize]), (0, 11));
        assert_eq!(slab.insert(30), 2);
        assert_eq!(slab.capacity(), 3);
    }
}
