//! Where a recipient may be: the NANP area-code table (embedded, parsed once) and `locate`, which
//! turns a phone number and an explicit time zone into the candidate locations every rule is
//! checked against.

use std::collections::{BTreeMap, HashMap};
use std::sync::LazyLock;

use domain::Phone;
use jiff::tz::TimeZone;

/// The area-code table, embedded at build time. Provenance: `data/PROVENANCE.md`.
const AREA_CODES_CSV: &str = include_str!("../data/nanp-area-codes.csv");

/// Parsed on first use. The data is fixed at build time and a test parses it, so a failure here is
/// a build defect, not a run-time condition: it fails loudly.
static TABLE: LazyLock<AreaCodeTable> = LazyLock::new(|| {
    AreaCodeTable::parse(AREA_CODES_CSV)
        .expect("the embedded data/nanp-area-codes.csv must parse (covered by a test)")
});

/// Where a recipient may be, and how Leadline knows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location {
    /// Every place the recipient may be. A message goes only when it is allowed at all of them.
    /// `decide` treats an empty list as "unknown" (the all-US fallback), never as "anywhere".
    pub candidates: Vec<Candidate>,
    pub basis: LocationBasis,
}

/// One place the recipient may be: a time zone, and the state whose law is presumed to apply.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Candidate {
    /// What the rules are evaluated in.
    pub time_zone: TimeZone,
    /// The IANA name of `time_zone`, for reasons and logs.
    pub zone_name: String,
    /// USPS code of the US state (or DC) whose rules apply here, if one is known.
    pub state: Option<String>,
    /// libphonenumber region code of the area code (`US`, `CA`, `PR`, `DO`, ...); `None` when the
    /// candidate comes from an explicit time zone alone.
    pub country: Option<String>,
}

/// How the candidates were found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LocationBasis {
    /// The phone's NANP area code: every zone listed for it, with its state.
    AreaCode,
    /// The lead's explicit IANA time zone only (no usable area code).
    ExplicitTimeZone,
    /// Both: the explicit zone, plus the area code's zones; the area code's state binds them all.
    AreaCodeAndTimeZone,
    /// Neither: every US zone with every state in it.
    Unknown,
}

/// One row of the area-code table.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AreaCodeInfo {
    pub area_code: String,
    /// libphonenumber region code: `US`, `CA`, the US territories (`PR`, `VI`, `GU`, `MP`, `AS`)
    /// and the other countries of the plan (`DO`, `JM`, ...).
    pub country: String,
    /// State or province (USPS / Canada Post code); `None` for territories and other countries.
    pub region: Option<String>,
    /// Every IANA zone used under the area code (a split area code such as 850 has two).
    pub zone_names: Vec<String>,
    zones: Vec<TimeZone>,
}

impl AreaCodeInfo {
    /// The US state (or DC) whose rules bind this area code's numbers, if any.
    pub fn us_state(&self) -> Option<&str> {
        if self.country == "US" {
            self.region.as_deref()
        } else {
            None
        }
    }

    fn candidates(&self) -> impl Iterator<Item = Candidate> + '_ {
        self.zone_names
            .iter()
            .zip(&self.zones)
            .map(|(name, zone)| Candidate {
                time_zone: zone.clone(),
                zone_name: name.clone(),
                state: self.us_state().map(str::to_owned),
                country: Some(self.country.clone()),
            })
    }
}

/// The table row for a three-digit NANP area code. `None` for codes the table does not know
/// (toll-free 8XX, 900, unassigned): those numbers have no known location.
pub fn area_code_info(area_code: &str) -> Option<&'static AreaCodeInfo> {
    TABLE.by_code.get(area_code)
}

/// Gathers every place the recipient may be.
///
/// - A known NANP area code gives every zone listed for it, each with the area code's state.
/// - A valid explicit IANA zone (`explicit_time_zone`, surrounding whitespace ignored) is a
///   candidate too. Numbers keep their area code when people move, and FL and OK presume
///   residence by area code, so the area code's state binds the explicit zone as well: a 305
///   number in `America/Los_Angeles` gets Florida's window in Los Angeles time *and* in Miami time.
/// - An explicit zone without a known area code carries no state (federal rules only). The state
///   will come from the address or ZIP once those are used.
/// - Neither (no phone, a non-NANP phone such as `+44...`, an unknown area code such as toll-free
///   `+1 800`, and no valid zone): the all-US fallback, every distinct (zone, state) pair of the
///   table's US states and DC, so the message goes only when it is allowed everywhere in the US.
///   A non-NANP number is deliberately not treated as "foreign, so no US rule": Leadline does not
///   know where its owner is.
/// - An invalid explicit zone is ignored, as if absent.
pub fn locate(phone: Option<&Phone>, explicit_time_zone: Option<&str>) -> Location {
    let area = phone
        .and_then(Phone::nanp_area_code)
        .and_then(area_code_info);
    let explicit = explicit_time_zone
        .map(str::trim)
        .filter(|name| !name.is_empty())
        .and_then(|name| {
            let zone = TimeZone::get(name).ok()?;
            let name = zone.iana_name().unwrap_or(name).to_owned();
            Some((name, zone))
        });

    match (area, explicit) {
        (Some(area), Some((zone_name, time_zone))) => {
            let mut candidates = vec![Candidate {
                time_zone,
                zone_name,
                state: area.us_state().map(str::to_owned),
                country: Some(area.country.clone()),
            }];
            for candidate in area.candidates() {
                if !candidates.contains(&candidate) {
                    candidates.push(candidate);
                }
            }
            Location {
                candidates,
                basis: LocationBasis::AreaCodeAndTimeZone,
            }
        }
        (Some(area), None) => Location {
            candidates: area.candidates().collect(),
            basis: LocationBasis::AreaCode,
        },
        (None, Some((zone_name, time_zone))) => Location {
            candidates: vec![Candidate {
                time_zone,
                zone_name,
                state: None,
                country: None,
            }],
            basis: LocationBasis::ExplicitTimeZone,
        },
        (None, None) => Location::unknown(),
    }
}

impl Location {
    /// The all-US fallback: every distinct (zone, state) pair of the table's states and DC.
    pub fn unknown() -> Location {
        Location {
            candidates: TABLE.all_us.clone(),
            basis: LocationBasis::Unknown,
        }
    }
}

/// The fallback candidates, for `decide` when handed an empty location.
pub(crate) fn all_us_candidates() -> &'static [Candidate] {
    &TABLE.all_us
}

#[derive(Debug)]
struct AreaCodeTable {
    by_code: HashMap<String, AreaCodeInfo>,
    all_us: Vec<Candidate>,
}

#[derive(Debug, thiserror::Error)]
enum TableError {
    #[error("area-code table: {0}")]
    Csv(#[from] csv::Error),
    #[error("area-code table, area code {area_code}: {problem}")]
    Row { area_code: String, problem: String },
}

#[derive(serde::Deserialize)]
struct Row {
    area_code: String,
    country: String,
    region: String,
    time_zones: String,
}

impl AreaCodeTable {
    fn parse(csv_text: &str) -> Result<Self, TableError> {
        let mut by_code = HashMap::new();
        let mut us_pairs = BTreeMap::new();
        let mut reader = csv::Reader::from_reader(csv_text.as_bytes());
        for row in reader.deserialize::<Row>() {
            let row = row?;
            let problem = |problem: &str| TableError::Row {
                area_code: row.area_code.clone(),
                problem: problem.to_owned(),
            };
            if row.area_code.len() != 3 || !row.area_code.bytes().all(|b| b.is_ascii_digit()) {
                return Err(problem("not three digits"));
            }
            if row.country.is_empty() {
                return Err(problem("no country"));
            }
            let zone_names: Vec<String> = row
                .time_zones
                .split(';')
                .map(str::trim)
                .filter(|z| !z.is_empty())
                .map(str::to_owned)
                .collect();
            if zone_names.is_empty() {
                return Err(problem("no time zone"));
            }
            let zones = zone_names
                .iter()
                .map(|name| {
                    TimeZone::get(name)
                        .map_err(|e| problem(&format!("unknown time zone {name}: {e}")))
                })
                .collect::<Result<Vec<_>, _>>()?;
            let region = Some(row.region.trim().to_owned()).filter(|r| !r.is_empty());
            if row.country == "US"
                && let Some(state) = &region
            {
                for (name, zone) in zone_names.iter().zip(&zones) {
                    us_pairs.insert((name.clone(), state.clone()), zone.clone());
                }
            }
            let info = AreaCodeInfo {
                area_code: row.area_code.clone(),
                country: row.country.clone(),
                region,
                zone_names,
                zones,
            };
            if by_code.insert(row.area_code.clone(), info).is_some() {
                return Err(problem("listed twice"));
            }
        }
        let all_us = us_pairs
            .into_iter()
            .map(|((zone_name, state), time_zone)| Candidate {
                time_zone,
                zone_name,
                state: Some(state),
                country: Some("US".to_owned()),
            })
            .collect();
        Ok(AreaCodeTable { by_code, all_us })
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;

    fn phone(s: &str) -> Phone {
        Phone::parse(s, "US").unwrap()
    }

    fn zones(location: &Location) -> Vec<&str> {
        location
            .candidates
            .iter()
            .map(|c| c.zone_name.as_str())
            .collect()
    }

    #[test]
    fn the_embedded_table_parses() {
        let table = AreaCodeTable::parse(AREA_CODES_CSV).unwrap();
        assert!(table.by_code.len() > 400, "{}", table.by_code.len());
        assert!(!table.all_us.is_empty());
    }

    #[test]
    fn a_broken_table_is_refused() {
        let header = "area_code,country,region,time_zones\n";
        for bad in [
            "21,US,NY,America/New_York\n",
            "212,US,NY,America/Nowhere\n",
            "212,US,NY,\n",
            "212,,NY,America/New_York\n",
            "212,US,NY,America/New_York\n212,US,NY,America/New_York\n",
        ] {
            assert!(
                AreaCodeTable::parse(&format!("{header}{bad}")).is_err(),
                "{bad}"
            );
        }
    }

    #[test]
    fn area_code_rows() {
        let ny = area_code_info("212").unwrap();
        assert_eq!((ny.country.as_str(), ny.us_state()), ("US", Some("NY")));
        assert_eq!(ny.zone_names, ["America/New_York"]);

        let split = area_code_info("850").unwrap();
        assert_eq!(split.us_state(), Some("FL"));
        assert_eq!(split.zone_names.len(), 2);

        let toronto = area_code_info("416").unwrap();
        assert_eq!((toronto.country.as_str(), toronto.us_state()), ("CA", None));

        assert_eq!(area_code_info("800"), None);
        assert_eq!(area_code_info("nope"), None);
    }

    #[test]
    fn a_split_area_code_gives_every_zone_with_its_state() {
        let location = locate(Some(&phone("850-555-0199")), None);
        assert_eq!(location.basis, LocationBasis::AreaCode);
        let mut names = zones(&location);
        names.sort_unstable();
        assert_eq!(names, ["America/Chicago", "America/New_York"]);
        assert!(
            location
                .candidates
                .iter()
                .all(|c| c.state.as_deref() == Some("FL"))
        );
    }

    #[test]
    fn an_explicit_zone_keeps_the_area_codes_state() {
        let location = locate(Some(&phone("305-555-0199")), Some(" America/Los_Angeles "));
        assert_eq!(location.basis, LocationBasis::AreaCodeAndTimeZone);
        assert_eq!(
            zones(&location),
            ["America/Los_Angeles", "America/New_York"]
        );
        assert!(
            location
                .candidates
                .iter()
                .all(|c| c.state.as_deref() == Some("FL"))
        );
    }

    #[test]
    fn the_same_zone_twice_is_one_candidate() {
        let location = locate(Some(&phone("212-555-0199")), Some("America/New_York"));
        assert_eq!(zones(&location), ["America/New_York"]);
    }

    #[test]
    fn an_explicit_zone_alone_carries_no_state() {
        let location = locate(None, Some("America/Chicago"));
        assert_eq!(location.basis, LocationBasis::ExplicitTimeZone);
        assert_eq!(location.candidates.len(), 1);
        assert_eq!(location.candidates[0].state, None);
    }

    #[test]
    fn nothing_known_means_all_of_the_us() {
        let toll_free = Phone::parse("+1 800 225 5288", "US").unwrap();
        let foreign = phone("+44 20 7946 0958");
        for location in [
            locate(None, None),
            locate(Some(&toll_free), None),
            locate(Some(&foreign), None),
            locate(None, Some("Mars/Olympus_Mons")),
            locate(None, Some("  ")),
        ] {
            assert_eq!(location.basis, LocationBasis::Unknown);
            assert_eq!(location, Location::unknown());
        }
        let fallback = Location::unknown();
        let names: BTreeSet<&str> = zones(&fallback).into_iter().collect();
        for zone in [
            "America/New_York",
            "America/Chicago",
            "America/Denver",
            "America/Phoenix",
            "America/Los_Angeles",
            "America/Anchorage",
            "Pacific/Honolulu",
        ] {
            assert!(names.contains(zone), "{zone}");
        }
        let states: BTreeSet<&str> = fallback
            .candidates
            .iter()
            .filter_map(|c| c.state.as_deref())
            .collect();
        assert_eq!(states.len(), 51, "50 states and DC: {states:?}");
        assert!(fallback.candidates.iter().all(|c| c.state.is_some()));
    }

    #[test]
    fn an_unknown_area_code_with_a_zone_uses_the_zone() {
        let toll_free = Phone::parse("+1 800 225 5288", "US").unwrap();
        let location = locate(Some(&toll_free), Some("Pacific/Honolulu"));
        assert_eq!(location.basis, LocationBasis::ExplicitTimeZone);
        assert_eq!(zones(&location), ["Pacific/Honolulu"]);
    }
}
