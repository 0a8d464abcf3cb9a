//! Bounded least-recently-used maps and sets: the one type every in-memory cache fed by remote
//! input uses, so that no remote peer can make the bridge's memory grow without end
//! (`limits.remote_cache_entries`).
//!
//! Reading an entry with [`LruMap::get`]/[`LruMap::get_mut`] (or [`LruSet::touch`]) marks it as
//! recently used; [`LruMap::peek`] and `contains` do not. Inserting past the capacity evicts the
//! least recently used entry and hands it back, so a caller can log or clean up after it.

use std::borrow::Borrow;
use std::fmt;
use std::hash::Hash;

use hashlink::LinkedHashMap;
use hashlink::linked_hash_map::Entry;

/// A map holding at most `capacity` entries; the least recently used one goes first.
///
/// Its order runs from least to most recently used.
pub struct LruMap<K, V> {
    map: LinkedHashMap<K, V>,
    capacity: usize,
}

impl<K: Hash + Eq, V> LruMap<K, V> {
    /// An empty map holding at most `capacity` entries (at least one, whatever is asked).
    pub fn new(capacity: usize) -> Self {
        Self {
            map: LinkedHashMap::new(),
            capacity: capacity.max(1),
        }
    }

    /// How many entries the map holds at most.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// How many entries the map holds.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// Whether the map is empty.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// Whether `key` is present, without marking it as used.
    pub fn contains<Q>(&self, key: &Q) -> bool
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.map.contains_key(key)
    }

    /// The value of `key`, marking it as most recently used.
    pub fn get<Q>(&mut self, key: &Q) -> Option<&V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.map.to_back(key).map(|v| &*v)
    }

    /// The value of `key` for changing, marking it as most recently used.
    pub fn get_mut<Q>(&mut self, key: &Q) -> Option<&mut V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.map.to_back(key)
    }

    /// The value of `key`, without marking it as used.
    pub fn peek<Q>(&self, key: &Q) -> Option<&V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.map.get(key)
    }

    /// Sets `key` to `value` and marks it as most recently used. A value already there is
    /// replaced (dropped). Returns the least recently used entry if the map was full and had to
    /// make room.
    pub fn insert(&mut self, key: K, value: V) -> Option<(K, V)> {
        if self.map.insert(key, value).is_some() {
            return None;
        }
        if self.map.len() > self.capacity {
            self.map.pop_front()
        } else {
            None
        }
    }

    /// The value of `key` for changing, inserting `make()` first if absent (which may evict the
    /// least recently used entry, dropped). Marks the entry as most recently used.
    pub fn get_or_insert_with(&mut self, key: K, make: impl FnOnce() -> V) -> &mut V {
        if !self.map.contains_key(&key) && self.map.len() >= self.capacity {
            self.map.pop_front();
        }
        match self.map.entry(key) {
            Entry::Occupied(mut entry) => {
                entry.to_back();
                entry.into_mut()
            }
            Entry::Vacant(entry) => entry.insert(make()),
        }
    }

    /// Removes `key`, returning its value.
    pub fn remove<Q>(&mut self, key: &Q) -> Option<V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.map.remove(key)
    }

    /// Keeps only the entries for which `keep` returns true (their order is unchanged).
    pub fn retain(&mut self, mut keep: impl FnMut(&K, &mut V) -> bool) {
        self.map.retain(|k, v| keep(k, v));
    }

    /// The entries from least to most recently used, without marking them.
    pub fn iter(&self) -> impl Iterator<Item = (&K, &V)> {
        self.map.iter()
    }

    /// Removes every entry.
    pub fn clear(&mut self) {
        self.map.clear();
    }
}

impl<K: fmt::Debug, V: fmt::Debug> fmt::Debug for LruMap<K, V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LruMap")
            .field("capacity", &self.capacity)
            .field("entries", &self.map)
            .finish()
    }
}

/// A set holding at most `capacity` members; the least recently used one goes first.
pub struct LruSet<T> {
    map: LruMap<T, ()>,
}

impl<T: Hash + Eq> LruSet<T> {
    /// An empty set holding at most `capacity` members (at least one).
    pub fn new(capacity: usize) -> Self {
        Self {
            map: LruMap::new(capacity),
        }
    }

    /// How many members the set holds at most.
    pub fn capacity(&self) -> usize {
        self.map.capacity()
    }

    /// How many members the set holds.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// Whether the set is empty.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// Whether `value` is a member, without marking it as used.
    pub fn contains<Q>(&self, value: &Q) -> bool
    where
        T: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.map.contains(value)
    }

    /// Whether `value` is a member, marking it as most recently used if so.
    pub fn touch<Q>(&mut self, value: &Q) -> bool
    where
        T: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.map.get(value).is_some()
    }

    /// Adds `value` (or marks it as most recently used if already a member). Returns the least
    /// recently used member if the set was full and had to make room.
    pub fn insert(&mut self, value: T) -> Option<T> {
        self.map.insert(value, ()).map(|(k, ())| k)
    }

    /// Removes `value`; whether it was a member.
    pub fn remove<Q>(&mut self, value: &Q) -> bool
    where
        T: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.map.remove(value).is_some()
    }

    /// Keeps only the members for which `keep` returns true.
    pub fn retain(&mut self, mut keep: impl FnMut(&T) -> bool) {
        self.map.retain(|k, ()| keep(k));
    }

    /// The members from least to most recently used, without marking them.
    pub fn iter(&self) -> impl Iterator<Item = &T> {
        self.map.iter().map(|(k, ())| k)
    }

    /// Removes every member.
    pub fn clear(&mut self) {
        self.map.clear();
    }
}

impl<T: fmt::Debug> fmt::Debug for LruSet<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LruSet")
            .field("capacity", &self.map.capacity)
            .field("members", &self.map.map.keys().collect::<Vec<_>>())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn insert_past_capacity_evicts_least_recently_inserted() {
        let mut m = LruMap::new(2);
        assert_eq!(m.insert("a", 1), None);
        assert_eq!(m.insert("b", 2), None);
        assert_eq!(m.insert("c", 3), Some(("a", 1)));
        assert_eq!(m.len(), 2);
        assert!(!m.contains("a"));
        assert!(m.contains("b") && m.contains("c"));
    }

    #[test]
    fn get_touches_so_the_other_entry_goes() {
        let mut m = LruMap::new(2);
        m.insert("a", 1);
        m.insert("b", 2);
        assert_eq!(m.get("a"), Some(&1));
        assert_eq!(m.insert("c", 3), Some(("b", 2)));
        assert!(m.contains("a"));
    }

    #[test]
    fn get_mut_touches_and_changes() {
        let mut m = LruMap::new(2);
        m.insert("a", 1);
        m.insert("b", 2);
        *m.get_mut("a").expect("present") += 10;
        assert_eq!(m.insert("c", 3), Some(("b", 2)));
        assert_eq!(m.peek("a"), Some(&11));
    }

    #[test]
    fn peek_and_contains_do_not_touch() {
        let mut m = LruMap::new(2);
        m.insert("a", 1);
        m.insert("b", 2);
        assert_eq!(m.peek("a"), Some(&1));
        assert!(m.contains("a"));
        assert_eq!(m.insert("c", 3), Some(("a", 1)));
    }

    #[test]
    fn replacing_a_value_evicts_nothing_and_touches() {
        let mut m = LruMap::new(2);
        m.insert("a", 1);
        m.insert("b", 2);
        assert_eq!(m.insert("a", 5), None);
        assert_eq!(m.len(), 2);
        assert_eq!(m.insert("c", 3), Some(("b", 2)));
        assert_eq!(m.peek("a"), Some(&5));
    }

    #[test]
    fn remove_frees_room() {
        let mut m = LruMap::new(2);
        m.insert("a", 1);
        m.insert("b", 2);
        assert_eq!(m.remove("a"), Some(1));
        assert_eq!(m.remove("a"), None);
        assert_eq!(m.insert("c", 3), None);
        assert_eq!(m.len(), 2);
    }

    #[test]
    fn get_or_insert_with_inserts_once_and_bounds() {
        let mut m: LruMap<&str, Vec<u8>> = LruMap::new(2);
        m.get_or_insert_with("a", Vec::new).push(1);
        m.get_or_insert_with("a", || unreachable!()).push(2);
        m.get_or_insert_with("b", Vec::new);
        m.get_or_insert_with("a", Vec::new);
        m.get_or_insert_with("c", Vec::new);
        assert_eq!(m.len(), 2);
        assert!(!m.contains("b"));
        assert_eq!(m.peek("a"), Some(&vec![1, 2]));
    }

    #[test]
    fn zero_capacity_still_holds_one() {
        let mut m = LruMap::new(0);
        assert_eq!(m.capacity(), 1);
        m.insert(1, ());
        assert_eq!(m.insert(2, ()), Some((1, ())));
        assert_eq!(m.len(), 1);
    }

    #[test]
    fn retain_and_iter_keep_order() {
        let mut m = LruMap::new(4);
        for (k, v) in [("a", 1), ("b", 2), ("c", 3)] {
            m.insert(k, v);
        }
        m.get("a");
        m.retain(|_, v| *v != 2);
        let keys: Vec<_> = m.iter().map(|(k, _)| *k).collect();
        assert_eq!(keys, ["c", "a"]);
    }

    #[test]
    fn set_evicts_least_recently_used_member() {
        let mut s = LruSet::new(2);
        assert_eq!(s.insert("x".to_owned()), None);
        assert_eq!(s.insert("y".to_owned()), None);
        assert!(s.touch("x"));
        assert_eq!(s.insert("z".to_owned()), Some("y".to_owned()));
        assert!(s.contains("x") && s.contains("z") && !s.contains("y"));
        assert!(s.remove("x"));
        assert!(!s.remove("x"));
        assert_eq!(s.len(), 1);
    }

    #[test]
    fn set_reinsert_touches_without_growing() {
        let mut s = LruSet::new(2);
        s.insert(1);
        s.insert(2);
        assert_eq!(s.insert(1), None);
        assert_eq!(s.len(), 2);
        assert_eq!(s.insert(3), Some(2));
    }

    #[test]
    fn a_flood_of_distinct_keys_stays_bounded() {
        let mut s = LruSet::new(100);
        for i in 0..10_000 {
            s.insert(i);
        }
        assert_eq!(s.len(), 100);
        assert_eq!(s.iter().next(), Some(&9_900));
    }
}
