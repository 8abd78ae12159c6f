//! Where a recipient may be: the NANP area-code table (embedded, parsed once) and `locate`, which
//! turns a phone number and an explicit time zone into the candidate locations every rule is
//! checked against.

use std::collections::{BTreeMap, HashMap};
use std::sync::LazyLock;

use domain::Phone;
use jiff::tz::TimeZone;

/// The area-code table, embedded at build time. Provenance: `data/PROVENANCE.md`.
const AREA_CODES_CSV: &str = include_str!("../data/nanp-area-codes.csv");

/// ZIP code ranges to states and territories, embedded at build time. Provenance:
/// `data/PROVENANCE.md`.
const ZIP_CSV: &str = include_str!("../data/us-zip3-states.csv");

/// The US territories of the numbering plan: US jurisdiction, no state.
const TERRITORIES: &[&str] = &["PR", "VI", "GU", "MP", "AS"];

/// Parsed on first use. The data is fixed at build time and a test parses it, so a failure here is
/// a build defect, not a run-time condition: it fails loudly.
static TABLE: LazyLock<AreaCodeTable> = LazyLock::new(|| {
    AreaCodeTable::parse(AREA_CODES_CSV, ZIP_CSV)
        .expect("the embedded data/*.csv must parse (covered by a test)")
});

/// Where a recipient may be, and how Leadline knows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location {
    /// Every place the recipient may be. A message goes only when it is allowed at all of them.
    /// `decide` treats an empty list as "unknown" (the all-US fallback), never as "anywhere".
    pub candidates: Vec<Candidate>,
    /// How Leadline knows, in the order the sources were read.
    pub basis: Vec<LocationBasis>,
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

/// One way Leadline learnt where the recipient may be.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LocationBasis {
    /// The phone's NANP area code: every zone listed for it, and its state.
    AreaCode,
    /// The lead's explicit IANA time zone.
    ExplicitTimeZone,
    /// The lead's ZIP code: its state (every zone of that state).
    Zip,
    /// The state named at the end of the lead's postal address (every zone of that state).
    Address,
    /// Nothing usable: every US zone with every state and territory in it. `decide` treats a
    /// location whose only basis is this as the whole US, whatever its candidate list says.
    Unknown,
}

impl LocationBasis {
    pub fn as_str(self) -> &'static str {
        match self {
            LocationBasis::AreaCode => "area_code",
            LocationBasis::ExplicitTimeZone => "explicit_time_zone",
            LocationBasis::Zip => "zip",
            LocationBasis::Address => "address",
            LocationBasis::Unknown => "unknown",
        }
    }
}

/// What is known about where a recipient is, as the lead holds it.
#[derive(Debug, Clone, Copy, Default)]
pub struct Whereabouts<'a> {
    pub phone: Option<&'a Phone>,
    /// An IANA zone the caller knows the person to be in.
    pub time_zone: Option<&'a str>,
    pub zip: Option<&'a str>,
    /// A free-text postal address; a state (code or name) at its end, before any ZIP, is used.
    pub address: Option<&'a str>,
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
}

/// The table row for a three-digit NANP area code. `None` for codes the table does not know
/// (toll-free 8XX, 900, unassigned): those numbers have no known location.
pub fn area_code_info(area_code: &str) -> Option<&'static AreaCodeInfo> {
    TABLE.by_code.get(area_code)
}

/// Gathers every place the recipient may be.
///
/// The zones: every zone of the phone's NANP area code (a split code such as 850 has two), the
/// explicit IANA zone, and every zone of the state (or territory) that the ZIP code or the
/// address names. The jurisdictions: the area code's state, the ZIP's and the address's.
/// Every zone is paired with every jurisdiction, because Leadline knows neither which zone the
/// person is in right now nor which state's law presumes them resident: numbers keep their area
/// code when people move, and FL and OK presume residence by area code, so the area code's
/// state always binds, also in the ZIP's zones (a 305 number with a Texas ZIP gets Florida's and
/// Texas's windows, each in Miami, Chicago and Denver time).
///
/// - A US territory (PR, VI, GU, MP, AS) is US jurisdiction: its candidates carry no state, so
///   the federal rules bind them, in the territory's zone.
/// - A zone without any jurisdiction (an explicit zone alone, a Canadian area code) carries no
///   state: the federal rules only.
/// - Nothing usable (no phone, a non-NANP phone such as `+44...`, an unknown area code such as
///   toll-free `+1 800`, an invalid zone, an unknown ZIP): the all-US fallback, every (zone,
///   state) of the US states, DC and the territories, so the message goes only when it is
///   allowed everywhere in the US. A non-NANP number is deliberately not treated as "foreign, so
///   no US rule": Leadline does not know where its owner is.
pub fn locate(whereabouts: &Whereabouts<'_>) -> Location {
    let mut zones: Vec<(String, TimeZone)> = Vec::new();
    let mut jurisdictions: Vec<Option<String>> = Vec::new();
    let mut country: Option<String> = None;
    let mut basis = Vec::new();

    let add_zone = |zones: &mut Vec<(String, TimeZone)>, name: &str, zone: &TimeZone| {
        if !zones.iter().any(|(known, _)| known == name) {
            zones.push((name.to_owned(), zone.clone()));
        }
    };
    let add_jurisdiction = |jurisdictions: &mut Vec<Option<String>>, state: Option<&str>| {
        let state = state.map(str::to_owned);
        if !jurisdictions.contains(&state) {
            jurisdictions.push(state);
        }
    };

    if let Some(zone_name) = whereabouts
        .time_zone
        .map(str::trim)
        .filter(|name| !name.is_empty())
        && let Ok(zone) = TimeZone::get(zone_name)
    {
        let name = zone.iana_name().unwrap_or(zone_name).to_owned();
        add_zone(&mut zones, &name, &zone);
        basis.push(LocationBasis::ExplicitTimeZone);
    }
    if let Some(area) = whereabouts
        .phone
        .and_then(Phone::nanp_area_code)
        .and_then(area_code_info)
    {
        for (name, zone) in area.zone_names.iter().zip(&area.zones) {
            add_zone(&mut zones, name, zone);
        }
        add_jurisdiction(&mut jurisdictions, area.us_state());
        country = Some(area.country.clone());
        basis.push(LocationBasis::AreaCode);
    }
    let postal = [
        (whereabouts.zip.and_then(zip_region), LocationBasis::Zip),
        (
            whereabouts.address.and_then(address_region),
            LocationBasis::Address,
        ),
    ];
    for (region, how) in postal {
        let Some(region) = region else { continue };
        let Some(place) = TABLE.regions.get(region) else {
            continue;
        };
        for (name, zone) in &place.zones {
            add_zone(&mut zones, name, zone);
        }
        add_jurisdiction(&mut jurisdictions, place.state.as_deref());
        country.get_or_insert_with(|| place.country.clone());
        basis.push(how);
    }

    if zones.is_empty() {
        return Location::unknown();
    }
    if jurisdictions.is_empty() {
        jurisdictions.push(None);
    }
    let candidates = zones
        .iter()
        .flat_map(|(zone_name, time_zone)| {
            jurisdictions.iter().map(|state| Candidate {
                time_zone: time_zone.clone(),
                zone_name: zone_name.clone(),
                state: state.clone(),
                country: country.clone(),
            })
        })
        .collect();
    Location { candidates, basis }
}

impl Location {
    /// The all-US fallback: every distinct (zone, state) pair of the table's states and DC, and
    /// every territory's zone.
    pub fn unknown() -> Location {
        Location {
            candidates: TABLE.all_us.clone(),
            basis: vec![LocationBasis::Unknown],
        }
    }

    /// The distinct US states whose rules bind some candidate, in order.
    pub fn states(&self) -> Vec<&str> {
        let mut states: Vec<&str> = self
            .candidates
            .iter()
            .filter_map(|c| c.state.as_deref())
            .collect();
        states.sort_unstable();
        states.dedup();
        states
    }
}

/// The state, DC or territory (USPS code) of a five-digit ZIP code (`78701`, `78701-1234`).
pub fn zip_region(zip: &str) -> Option<&'static str> {
    let digits = zip.trim();
    let five = digits.get(..5)?;
    let rest = &digits[5..];
    if !five.bytes().all(|b| b.is_ascii_digit())
        || !(rest.is_empty()
            || (rest.len() == 5
                && rest.starts_with('-')
                && rest[1..].bytes().all(|b| b.is_ascii_digit())))
    {
        return None;
    }
    let code: u32 = five.parse().ok()?;
    let ranges = &TABLE.zip_ranges;
    let at = ranges.partition_point(|(from, _, _)| *from <= code);
    let (from, to, region) = ranges.get(at.checked_sub(1)?)?;
    (*from <= code && code <= *to).then_some(*region)
}

/// The state (or DC, or territory) a free-text US postal address ends with:
/// `"1 Main St, Austin, TX 78701"`, `"Austin, Texas"`, `"San Juan, PR 00901, USA"`. A trailing
/// country (`US`, `USA`, `United States`) and ZIP are skipped; a code must be upper case or be
/// followed by a ZIP, so that the word "in" or "me" at the end of a sentence is no state. When
/// the address names no state but ends with a ZIP, the ZIP's state is used.
pub fn address_region(address: &str) -> Option<&'static str> {
    let mut words: Vec<&str> = address
        .split(|c: char| !(c.is_alphanumeric() || c == '-'))
        .filter(|w| !w.is_empty())
        .collect();
    // A trailing country.
    let upper: Vec<String> = words.iter().map(|w| w.to_uppercase()).collect();
    let n = upper.len();
    if n >= 2 && upper[n - 2] == "UNITED" && upper[n - 1] == "STATES" {
        words.truncate(n - 2);
    } else if n >= 1 && matches!(upper[n - 1].as_str(), "US" | "USA") {
        words.truncate(n - 1);
    }
    let zip = words.last().copied().and_then(zip_region);
    if zip.is_some() {
        words.pop();
    }
    let last = words.last().copied()?;
    if last.len() == 2 {
        let code = last.to_uppercase();
        if (last == code || zip.is_some())
            && let Some((code, _)) = TABLE.regions.get_key_value(code.as_str())
        {
            return Some(code.as_str());
        }
    }
    // A full name, one or two words ("Texas", "New Mexico", "District of Columbia").
    for take in (1..=3).rev() {
        let Some(start) = words.len().checked_sub(take) else {
            continue;
        };
        let name = words[start..].join(" ").to_lowercase();
        if let Some((_, code)) = STATE_NAMES.iter().find(|(known, _)| *known == name) {
            return Some(code);
        }
    }
    zip
}

/// US states, DC and territories by their full names, lower case.
const STATE_NAMES: &[(&str, &str)] = &[
    ("alabama", "AL"),
    ("alaska", "AK"),
    ("arizona", "AZ"),
    ("arkansas", "AR"),
    ("california", "CA"),
    ("colorado", "CO"),
    ("connecticut", "CT"),
    ("delaware", "DE"),
    ("district of columbia", "DC"),
    ("florida", "FL"),
    ("georgia", "GA"),
    ("hawaii", "HI"),
    ("idaho", "ID"),
    ("illinois", "IL"),
    ("indiana", "IN"),
    ("iowa", "IA"),
    ("kansas", "KS"),
    ("kentucky", "KY"),
    ("louisiana", "LA"),
    ("maine", "ME"),
    ("maryland", "MD"),
    ("massachusetts", "MA"),
    ("michigan", "MI"),
    ("minnesota", "MN"),
    ("mississippi", "MS"),
    ("missouri", "MO"),
    ("montana", "MT"),
    ("nebraska", "NE"),
    ("nevada", "NV"),
    ("new hampshire", "NH"),
    ("new jersey", "NJ"),
    ("new mexico", "NM"),
    ("new york", "NY"),
    ("north carolina", "NC"),
    ("north dakota", "ND"),
    ("ohio", "OH"),
    ("oklahoma", "OK"),
    ("oregon", "OR"),
    ("pennsylvania", "PA"),
    ("rhode island", "RI"),
    ("south carolina", "SC"),
    ("south dakota", "SD"),
    ("tennessee", "TN"),
    ("texas", "TX"),
    ("utah", "UT"),
    ("vermont", "VT"),
    ("virginia", "VA"),
    ("washington", "WA"),
    ("west virginia", "WV"),
    ("wisconsin", "WI"),
    ("wyoming", "WY"),
    ("puerto rico", "PR"),
    ("virgin islands", "VI"),
    ("guam", "GU"),
    ("northern mariana islands", "MP"),
    ("american samoa", "AS"),
];

/// The fallback candidates, for `decide` when handed an empty location.
pub(crate) fn all_us_candidates() -> &'static [Candidate] {
    &TABLE.all_us
}

#[derive(Debug)]
struct AreaCodeTable {
    by_code: HashMap<String, AreaCodeInfo>,
    all_us: Vec<Candidate>,
    /// US states, DC and territories by USPS code, with every zone their area codes use.
    regions: HashMap<String, Region>,
    /// `(from, to, region)`, ascending.
    zip_ranges: Vec<(u32, u32, &'static str)>,
}

/// A US state, DC or territory.
#[derive(Debug)]
struct Region {
    /// The state whose rules bind; `None` for a territory (federal rules only).
    state: Option<String>,
    country: String,
    zones: Vec<(String, TimeZone)>,
}

#[derive(Debug, thiserror::Error)]
enum TableError {
    #[error("area-code table: {0}")]
    Csv(#[from] csv::Error),
    #[error("area-code table, area code {area_code}: {problem}")]
    Row { area_code: String, problem: String },
    #[error("ZIP table, line {line}: {problem}")]
    Zip { line: usize, problem: String },
}

#[derive(serde::Deserialize)]
struct Row {
    area_code: String,
    country: String,
    region: String,
    time_zones: String,
}

impl AreaCodeTable {
    fn parse(csv_text: &str, zip_csv: &'static str) -> Result<Self, TableError> {
        let mut by_code = HashMap::new();
        let mut us_pairs = BTreeMap::new();
        let mut regions: HashMap<String, Region> = HashMap::new();
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
            let us_region = match (&region, row.country.as_str()) {
                (Some(state), "US") => Some((state.clone(), Some(state.clone()))),
                (None, territory) if TERRITORIES.contains(&territory) => {
                    Some((territory.to_owned(), None))
                }
                _ => None,
            };
            if let Some((code, state)) = us_region {
                for (name, zone) in zone_names.iter().zip(&zones) {
                    us_pairs.insert((name.clone(), state.clone()), zone.clone());
                }
                let place = regions.entry(code).or_insert_with(|| Region {
                    state,
                    country: row.country.clone(),
                    zones: Vec::new(),
                });
                for (name, zone) in zone_names.iter().zip(&zones) {
                    if !place.zones.iter().any(|(known, _)| known == name) {
                        place.zones.push((name.clone(), zone.clone()));
                    }
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
                state,
                country: Some("US".to_owned()),
            })
            .collect();
        let zip_ranges = parse_zip_ranges(zip_csv, &regions)?;
        Ok(AreaCodeTable {
            by_code,
            all_us,
            regions,
            zip_ranges,
        })
    }
}

/// Reads `from,to,region` rows: five-digit bounds, ascending and non-overlapping, each region a
/// known state or territory.
fn parse_zip_ranges(
    text: &'static str,
    regions: &HashMap<String, Region>,
) -> Result<Vec<(u32, u32, &'static str)>, TableError> {
    let mut ranges: Vec<(u32, u32, &'static str)> = Vec::new();
    for (index, line) in text.lines().enumerate().skip(1) {
        let problem = |problem: &str| TableError::Zip {
            line: index + 1,
            problem: problem.to_owned(),
        };
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        let mut fields = line.split(',').map(str::trim);
        let (Some(from), Some(to), Some(region), None) =
            (fields.next(), fields.next(), fields.next(), fields.next())
        else {
            return Err(problem("expected from,to,region"));
        };
        let bound = |s: &str| {
            (s.len() == 5 && s.bytes().all(|b| b.is_ascii_digit()))
                .then(|| s.parse::<u32>().ok())
                .flatten()
                .ok_or_else(|| problem("a bound is not five digits"))
        };
        let (from, to) = (bound(from)?, bound(to)?);
        if from > to {
            return Err(problem("from is after to"));
        }
        if ranges.last().is_some_and(|(_, last, _)| *last >= from) {
            return Err(problem("overlaps or is out of order"));
        }
        if !regions.contains_key(region) {
            return Err(problem("not a state or territory of the area-code table"));
        }
        ranges.push((from, to, region));
    }
    Ok(ranges)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;

    fn phone(s: &str) -> Phone {
        Phone::parse(s, "US").unwrap()
    }

    fn by_phone(phone: &Phone) -> Whereabouts<'_> {
        Whereabouts {
            phone: Some(phone),
            ..Whereabouts::default()
        }
    }

    fn in_zone(zone: &str) -> Whereabouts<'_> {
        Whereabouts {
            time_zone: Some(zone),
            ..Whereabouts::default()
        }
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
        let table = AreaCodeTable::parse(AREA_CODES_CSV, ZIP_CSV).unwrap();
        assert_eq!(table.regions.len(), 56, "50 states, DC and 5 territories");
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
                AreaCodeTable::parse(&format!("{header}{bad}"), "from,to,region\n").is_err(),
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
        let location = locate(&by_phone(&phone("850-555-0199")));
        assert_eq!(location.basis, [LocationBasis::AreaCode]);
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
        let number = phone("305-555-0199");
        let location = locate(&Whereabouts {
            time_zone: Some(" America/Los_Angeles "),
            ..by_phone(&number)
        });
        assert_eq!(
            location.basis,
            [LocationBasis::ExplicitTimeZone, LocationBasis::AreaCode]
        );
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
        let number = phone("212-555-0199");
        let location = locate(&Whereabouts {
            time_zone: Some("America/New_York"),
            ..by_phone(&number)
        });
        assert_eq!(zones(&location), ["America/New_York"]);
    }

    #[test]
    fn an_explicit_zone_alone_carries_no_state() {
        let location = locate(&in_zone("America/Chicago"));
        assert_eq!(location.basis, [LocationBasis::ExplicitTimeZone]);
        assert_eq!(location.candidates.len(), 1);
        assert_eq!(location.candidates[0].state, None);
    }

    #[test]
    fn nothing_known_means_all_of_the_us() {
        let toll_free = Phone::parse("+1 800 225 5288", "US").unwrap();
        let foreign = phone("+44 20 7946 0958");
        for location in [
            locate(&Whereabouts::default()),
            locate(&by_phone(&toll_free)),
            locate(&by_phone(&foreign)),
            locate(&in_zone("Mars/Olympus_Mons")),
            locate(&in_zone("  ")),
            locate(&Whereabouts {
                zip: Some("09012"),
                address: Some("Unit 1, APO AE 09012"),
                ..Whereabouts::default()
            }),
        ] {
            assert_eq!(location.basis, [LocationBasis::Unknown]);
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
            "America/Puerto_Rico",
            "Pacific/Guam",
            "Pacific/Pago_Pago",
        ] {
            assert!(names.contains(zone), "{zone}");
        }
        let states: BTreeSet<&str> = fallback
            .candidates
            .iter()
            .filter_map(|c| c.state.as_deref())
            .collect();
        assert_eq!(states.len(), 51, "50 states and DC: {states:?}");
        // Territories are US jurisdiction: federal rules, in their own zones.
        let guam = fallback
            .candidates
            .iter()
            .find(|c| c.zone_name == "Pacific/Guam")
            .unwrap();
        assert_eq!(guam.state, None);
    }

    proptest::proptest! {
        #[test]
        fn postal_parsers_never_panic(text in ".{0,80}") {
            let _ = zip_region(&text);
            let _ = address_region(&text);
        }

        #[test]
        fn every_five_digit_zip_is_a_known_region_or_none(code in 0u32..100_000) {
            if let Some(region) = zip_region(&format!("{code:05}")) {
                proptest::prop_assert!(TABLE.regions.contains_key(region));
            }
        }
    }

    #[test]
    fn zip_codes_name_their_state() {
        for (zip, region) in [
            ("78701", Some("TX")),
            ("78701-1234", Some("TX")),
            (" 10001 ", Some("NY")),
            ("00501", Some("NY")),
            ("05501", Some("MA")),
            ("05601", Some("VT")),
            ("20101", Some("VA")),
            ("20500", Some("DC")),
            ("33101", Some("FL")),
            ("73301", Some("TX")),
            ("73101", Some("OK")),
            ("88510", Some("TX")),
            ("96799", Some("AS")),
            ("96813", Some("HI")),
            ("96910", Some("GU")),
            ("00901", Some("PR")),
            ("99501", Some("AK")),
            ("09012", None),
            ("34002", None),
            ("7870", None),
            ("787011", None),
            ("78701-12", None),
            ("abcde", None),
            ("", None),
        ] {
            assert_eq!(zip_region(zip), region, "{zip:?}");
        }
    }

    #[test]
    fn addresses_end_with_their_state() {
        for (address, region) in [
            ("1 Main St, Austin, TX 78701", Some("TX")),
            ("1 Main St, Austin, tx 78701", Some("TX")),
            ("1 Main St, Austin TX", Some("TX")),
            ("1 Main St, Austin, Texas", Some("TX")),
            ("1 Main St, Santa Fe, New Mexico 87501, USA", Some("NM")),
            ("Charleston, West Virginia", Some("WV")),
            (
                "1600 Pennsylvania Ave NW, Washington, DC 20500, United States",
                Some("DC"),
            ),
            ("San Juan, PR 00901", Some("PR")),
            ("1 Main St, 78701", Some("TX")),
            ("Please call me", None),
            ("come on in", None),
            ("1 Main St", None),
            ("", None),
        ] {
            assert_eq!(address_region(address), region, "{address:?}");
        }
    }

    #[test]
    fn a_zip_brings_its_states_zones_and_law() {
        // A Florida number living in Texas: both states bind, in every zone of both.
        let number = phone("305-555-0199");
        let location = locate(&Whereabouts {
            zip: Some("78701"),
            ..by_phone(&number)
        });
        assert_eq!(
            location.basis,
            [LocationBasis::AreaCode, LocationBasis::Zip]
        );
        assert_eq!(location.states(), ["FL", "TX"]);
        let names: BTreeSet<&str> = zones(&location).into_iter().collect();
        assert!(names.contains("America/New_York"));
        assert!(names.contains("America/Chicago"));
        for zone in &names {
            for state in ["FL", "TX"] {
                assert!(
                    location
                        .candidates
                        .iter()
                        .any(|c| c.zone_name == *zone && c.state.as_deref() == Some(state)),
                    "{zone} x {state}"
                );
            }
        }
    }

    #[test]
    fn an_address_alone_locates_the_person() {
        let location = locate(&Whereabouts {
            address: Some("1 Main St, Las Vegas, NV 89101"),
            ..Whereabouts::default()
        });
        assert_eq!(location.basis, [LocationBasis::Address]);
        assert_eq!(location.states(), ["NV"]);
        assert!(zones(&location).contains(&"America/Los_Angeles"));
    }

    #[test]
    fn a_territory_is_federal_jurisdiction_in_its_zone() {
        let location = locate(&by_phone(&phone("+1 787 555 0199")));
        assert_eq!(zones(&location), ["America/Puerto_Rico"]);
        assert_eq!(location.candidates[0].state, None);
        let location = locate(&Whereabouts {
            zip: Some("96910"),
            ..Whereabouts::default()
        });
        assert_eq!(zones(&location), ["Pacific/Guam"]);
        assert!(location.states().is_empty());
    }

    #[test]
    fn an_unknown_area_code_with_a_zone_uses_the_zone() {
        let toll_free = Phone::parse("+1 800 225 5288", "US").unwrap();
        let location = locate(&Whereabouts {
            time_zone: Some("Pacific/Honolulu"),
            ..by_phone(&toll_free)
        });
        assert_eq!(location.basis, [LocationBasis::ExplicitTimeZone]);
        assert_eq!(zones(&location), ["Pacific/Honolulu"]);
    }
}
