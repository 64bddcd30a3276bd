//! Statics shared between CPUs or with assembly, each type stating in its API why sharing it
//! cannot race, instead of one cell that is `Sync` for every use.
//!
//! - [`PerCpu`]: one slot per CPU; references to slot `i` come only from an `unsafe` call
//!   whose contract is "this is CPU `i`". Safe code gets addresses only.
//! - [`AddressOnly`]: memory only assembly or another agent (the SPMC) reads and writes;
//!   Rust takes its address and nothing else.
//! - [`SetOnce`]: a value the boot CPU writes once before the other CPUs start, read-only
//!   afterwards.
//!
//! This module imports nothing from the crate.

use core::cell::UnsafeCell;
use core::mem::MaybeUninit;
use core::sync::atomic::{AtomicU8, Ordering};

/// `N` slots of `T`, slot `i` belonging to CPU `i`. The slots are laid out as `[T; N]`, so
/// assembly can find slot `i` at `i * size_of::<T>()`.
#[repr(transparent)]
pub struct PerCpu<T, const N: usize>(UnsafeCell<[T; N]>);

// SAFETY: safe code only obtains slot addresses. A reference to a slot comes only from
// `PerCpu::slot_mut`, whose contract is that the caller runs on the slot's CPU and holds no
// other reference to it, so no two CPUs ever reach the same slot; `T: Send` because a slot's
// initial value is made on the boot CPU and used on another.
unsafe impl<T: Send, const N: usize> Sync for PerCpu<T, N> {}

impl<T, const N: usize> PerCpu<T, N> {
    /// The slots with their initial values.
    pub const fn new(slots: [T; N]) -> Self {
        Self(UnsafeCell::new(slots))
    }

    /// Address of slot `index` (`index < N`, else a panic: a CPU index out of range is a
    /// bug in the boot code).
    pub fn slot_ptr(&self, index: usize) -> *mut T {
        assert!(index < N);
        // SAFETY: `index < N`: the result stays inside the array; nothing is dereferenced.
        unsafe { self.0.get().cast::<T>().add(index) }
    }

    /// Slot `index`, mutably.
    ///
    /// # Safety
    ///
    /// The caller runs on CPU `index` and holds no other reference to that slot.
    #[allow(clippy::mut_from_ref)]
    pub unsafe fn slot_mut(&self, index: usize) -> &mut T {
        // SAFETY: the pointer is in bounds and aligned; the caller guarantees that no other
        // reference to the slot exists (only CPU `index` reaches it).
        unsafe { &mut *self.slot_ptr(index) }
    }
}

/// Memory Rust never reads or writes through a reference: assembly (a boot stack) or
/// another agent (the SPMC, through the hypervisor's mailbox pages) uses it, and Rust
/// only passes its address on.
#[repr(transparent)]
pub struct AddressOnly<T>(UnsafeCell<T>);

// SAFETY: the API hands out the address only; any access through it is the user's own
// `unsafe` (volatile copies, assembly), justified where it is made.
unsafe impl<T> Sync for AddressOnly<T> {}

impl<T> AddressOnly<T> {
    /// Wraps the initial contents.
    pub const fn new(v: T) -> Self {
        Self(UnsafeCell::new(v))
    }

    /// The address.
    pub const fn as_ptr(&self) -> *mut T {
        self.0.get()
    }
}

/// A value set once and read-only afterwards, in place (its address does not change, so
/// assembly may read it). Smaller than a general once-cell: it never waits, because its one
/// writer is the boot CPU before any reader runs. Its value is never dropped (it is for
/// statics).
pub struct SetOnce<T> {
    state: AtomicU8,
    value: UnsafeCell<MaybeUninit<T>>,
}

const EMPTY: u8 = 0;
const WRITING: u8 = 1;
const SET: u8 = 2;

// SAFETY: the value is written once, by the caller that moved the state from EMPTY to
// WRITING, before the Release store of SET; readers get a shared reference only after an
// Acquire load of SET. No `&mut` is ever handed out. `T: Send` because the value is made on
// one CPU and read on others, `T: Sync` because they share it.
unsafe impl<T: Send + Sync> Sync for SetOnce<T> {}

impl<T> SetOnce<T> {
    /// Not set yet.
    pub const fn new() -> Self {
        Self {
            state: AtomicU8::new(EMPTY),
            value: UnsafeCell::new(MaybeUninit::uninit()),
        }
    }

    /// Sets the value and returns it where it lives; gives `v` back if the cell was set (or
    /// being set) already.
    pub fn set(&self, v: T) -> Result<&T, T> {
        if self
            .state
            .compare_exchange(EMPTY, WRITING, Ordering::Acquire, Ordering::Relaxed)
            .is_err()
        {
            return Err(v);
        }
        // SAFETY: only the caller that won the EMPTY -> WRITING exchange gets here, once;
        // no reader touches the value before the SET store below.
        let value = unsafe { (*self.value.get()).write(v) };
        self.state.store(SET, Ordering::Release);
        Ok(value)
    }

    /// The value, once set.
    pub fn get(&self) -> Option<&T> {
        if self.state.load(Ordering::Acquire) == SET {
            // SAFETY: SET is stored after the value was written, and it is never written
            // again.
            Some(unsafe { (*self.value.get()).assume_init_ref() })
        } else {
            None
        }
    }
}

impl<T> Default for SetOnce<T> {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn per_cpu_slots_are_laid_out_as_an_array() {
        let p: PerCpu<[u64; 3], 4> = PerCpu::new([[0; 3]; 4]);
        let base = p.slot_ptr(0) as usize;
        for i in 0..4 {
            assert_eq!(p.slot_ptr(i) as usize - base, i * 24);
        }
        // SAFETY: this test is the only user of `p`.
        unsafe { p.slot_mut(2)[1] = 7 };
        // SAFETY: as above.
        assert_eq!(unsafe { p.slot_mut(2) }, &[0, 7, 0]);
    }

    #[test]
    #[should_panic]
    fn per_cpu_index_out_of_range_is_a_bug() {
        let p: PerCpu<u8, 2> = PerCpu::new([0; 2]);
        let _ = p.slot_ptr(2);
    }

    #[test]
    fn set_once_keeps_the_first_value_in_place() {
        let cell: SetOnce<[u64; 4]> = SetOnce::new();
        assert_eq!(cell.get(), None);
        let first = cell.set([1, 2, 3, 4]).map(|v| v as *const _);
        assert_eq!(cell.set([5; 4]), Err([5; 4]));
        assert_eq!(cell.get(), Some(&[1, 2, 3, 4]));
        assert_eq!(first, Ok(cell.get().unwrap() as *const _));
    }
}
