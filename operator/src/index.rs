//! Claims and memberships of every Municipality, kept up to date from the watch: who asks for
//! an INE code or a hostname, which tenants a Province or a ServicePlan has. Validation and the
//! watches' mappers ask it instead of scanning every Municipality, so their cost grows with the
//! tenant's own claims, not with the number of tenants.

use std::collections::{BTreeSet, HashMap};
use std::sync::Mutex;

use kube::ResourceExt;
use kube::runtime::watcher::Event;

use crate::api::v1alpha1::Municipality;

/// What one Municipality claims and belongs to.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct Entry {
    ine_code: String,
    /// `spec.domains` and the hosts it serves (`status.hosts`).
    hosts: BTreeSet<String>,
    province: String,
    /// `spec.plan`; `None`: the province's default.
    plan: Option<String>,
    /// What decides who keeps a contested claim (see `domain::claims`).
    holds_namespace: bool,
    deleting: bool,
}

impl Entry {
    fn of(m: &Municipality) -> Entry {
        let status = m.status.as_ref();
        let mut hosts: BTreeSet<String> = m.spec.domains.iter().cloned().collect();
        hosts.extend(status.iter().flat_map(|s| s.hosts.iter().cloned()));
        Entry {
            ine_code: m.spec.ine_code.clone(),
            hosts,
            province: m.spec.province.clone(),
            plan: m.spec.plan.clone(),
            holds_namespace: status.is_some_and(|s| s.namespace.is_some()),
            deleting: m.metadata.deletion_timestamp.is_some(),
        }
    }
}

#[derive(Default)]
struct Maps {
    entries: HashMap<String, Entry>,
    by_code: HashMap<String, BTreeSet<String>>,
    by_host: HashMap<String, BTreeSet<String>>,
    by_province: HashMap<String, BTreeSet<String>>,
    /// Municipalities that name this plan in `spec.plan`.
    by_plan: HashMap<String, BTreeSet<String>>,
}

fn add(map: &mut HashMap<String, BTreeSet<String>>, key: &str, name: &str) {
    map.entry(key.to_owned()).or_default().insert(name.to_owned());
}

fn remove(map: &mut HashMap<String, BTreeSet<String>>, key: &str, name: &str) {
    if let Some(set) = map.get_mut(key) {
        set.remove(name);
        if set.is_empty() {
            map.remove(key);
        }
    }
}

impl Maps {
    fn insert(&mut self, name: &str, entry: Entry) {
        add(&mut self.by_code, &entry.ine_code, name);
        for host in &entry.hosts {
            add(&mut self.by_host, host, name);
        }
        add(&mut self.by_province, &entry.province, name);
        if let Some(plan) = &entry.plan {
            add(&mut self.by_plan, plan, name);
        }
        self.entries.insert(name.to_owned(), entry);
    }

    fn delete(&mut self, name: &str) -> Option<Entry> {
        let entry = self.entries.remove(name)?;
        remove(&mut self.by_code, &entry.ine_code, name);
        for host in &entry.hosts {
            remove(&mut self.by_host, host, name);
        }
        remove(&mut self.by_province, &entry.province, name);
        if let Some(plan) = &entry.plan {
            remove(&mut self.by_plan, plan, name);
        }
        Some(entry)
    }

    /// Everyone but `name` who claims this code or one of these hosts.
    fn sharing(&self, name: &str, entry: &Entry, out: &mut BTreeSet<String>) {
        let hosts = entry.hosts.iter().filter_map(|h| self.by_host.get(h));
        for names in self.by_code.get(&entry.ine_code).into_iter().chain(hosts) {
            out.extend(names.iter().filter(|n| *n != name).cloned());
        }
    }
}

/// The index. Cheap to share: every method takes a short lock.
#[derive(Default)]
pub struct Index {
    maps: Mutex<Maps>,
    /// The list being received after a (re)start of the watch.
    relisting: Mutex<Option<Maps>>,
}

impl Index {
    /// Takes in one watch event. Returns the other Municipalities whose claims may have been
    /// decided differently because of it (they shared a code or a host with what changed), to
    /// be looked at again.
    pub fn apply(&self, event: &Event<Municipality>) -> BTreeSet<String> {
        let mut rivals = BTreeSet::new();
        match event {
            Event::Init => *self.relisting.lock().expect("poisoned") = Some(Maps::default()),
            Event::InitApply(m) => {
                if let Some(maps) = self.relisting.lock().expect("poisoned").as_mut() {
                    maps.insert(&m.name_any(), Entry::of(m));
                }
            }
            Event::InitDone => {
                if let Some(maps) = self.relisting.lock().expect("poisoned").take() {
                    *self.maps.lock().expect("poisoned") = maps;
                }
            }
            Event::Apply(m) => {
                let (name, entry) = (m.name_any(), Entry::of(m));
                let mut maps = self.maps.lock().expect("poisoned");
                let old = maps.delete(&name);
                if old.as_ref() != Some(&entry) {
                    if let Some(old) = &old {
                        maps.sharing(&name, old, &mut rivals);
                    }
                    maps.sharing(&name, &entry, &mut rivals);
                }
                maps.insert(&name, entry);
            }
            Event::Delete(m) => {
                let name = m.name_any();
                let mut maps = self.maps.lock().expect("poisoned");
                if let Some(old) = maps.delete(&name) {
                    maps.sharing(&name, &old, &mut rivals);
                }
            }
        }
        rivals
    }

    /// The other Municipalities that claim `ine_code` or one of `hosts`.
    pub fn rivals(&self, name: &str, ine_code: &str, hosts: &[String]) -> BTreeSet<String> {
        let maps = self.maps.lock().expect("poisoned");
        let entry = Entry { ine_code: ine_code.to_owned(), hosts: hosts.iter().cloned().collect(), ..Entry::default() };
        let mut out = BTreeSet::new();
        maps.sharing(name, &entry, &mut out);
        out
    }

    /// The Municipalities that claim an INE code (normally one).
    pub fn claimants_of_code(&self, ine_code: &str) -> BTreeSet<String> {
        self.maps.lock().expect("poisoned").by_code.get(ine_code).cloned().unwrap_or_default()
    }

    /// The Municipalities of a province.
    pub fn of_province(&self, province: &str) -> BTreeSet<String> {
        self.maps.lock().expect("poisoned").by_province.get(province).cloned().unwrap_or_default()
    }

    /// The Municipalities on a plan: those naming it, and those naming none in the provinces
    /// whose default it is.
    pub fn on_plan(&self, plan: &str, provinces_defaulting_to_it: &[String]) -> BTreeSet<String> {
        let maps = self.maps.lock().expect("poisoned");
        let mut out = maps.by_plan.get(plan).cloned().unwrap_or_default();
        for province in provinces_defaulting_to_it {
            let names = maps.by_province.get(province).into_iter().flatten();
            out.extend(names.filter(|n| maps.entries.get(*n).is_some_and(|e| e.plan.is_none())).cloned());
        }
        out
    }

    /// How many Municipalities it holds.
    #[cfg(test)]
    fn len(&self) -> usize {
        self.maps.lock().expect("poisoned").entries.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::v1alpha1::MunicipalityStatus;
    use crate::testing::municipality;

    fn names(v: &[&str]) -> BTreeSet<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn claims_and_memberships_follow_the_events() {
        let index = Index::default();
        let mut leon = municipality("leon", "24089");
        leon.spec.domains = vec!["nube.aytoleon.es".into()];
        let ponferrada = municipality("ponferrada", "24115");
        let mut bis = municipality("ponferrada-bis", "24115");
        bis.spec.plan = Some("city".into());
        index.apply(&Event::Init);
        for m in [&leon, &ponferrada] {
            index.apply(&Event::InitApply(m.clone()));
        }
        index.apply(&Event::InitDone);
        assert_eq!(index.len(), 2);

        // A newcomer with a taken code: the holder is told, and is its rival.
        assert_eq!(index.apply(&Event::Apply(bis.clone())), names(&["ponferrada"]));
        assert_eq!(index.rivals("ponferrada-bis", "24115", &[]), names(&["ponferrada"]));
        assert_eq!(index.rivals("x", "24001", &["nube.aytoleon.es".into()]), names(&["leon"]));
        assert_eq!(index.claimants_of_code("24115"), names(&["ponferrada", "ponferrada-bis"]));
        assert_eq!(index.of_province("leon"), names(&["leon", "ponferrada", "ponferrada-bis"]));
        assert_eq!(index.on_plan("city", &[]), names(&["ponferrada-bis"]));
        assert_eq!(index.on_plan("town", &["leon".into()]), names(&["leon", "ponferrada"]));

        // A status change that does not touch claims tells nobody.
        let mut served = ponferrada.clone();
        served.status = Some(MunicipalityStatus { phase: None, ..Default::default() });
        assert!(index.apply(&Event::Apply(served)).is_empty());

        // The holder goes: the newcomer is told.
        assert_eq!(index.apply(&Event::Delete(ponferrada)), names(&["ponferrada-bis"]));
        assert_eq!(index.claimants_of_code("24115"), names(&["ponferrada-bis"]));
        assert_eq!(index.rivals("ponferrada-bis", "24115", &[]), BTreeSet::new());
    }
}
