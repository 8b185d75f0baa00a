//! Property-based fuzzing of the token check (issue 13, point 7): tokens loaded from a file and
//! an env value, random scopes, every credential form, against a reference of the rule "a known
//! token, allowed for the account (or for every account, or the route has none)". Bounded case
//! counts; `STRATO_FUZZ_CASES=<n>` runs every property with `n` cases instead. No regression
//! files are written.
use std::sync::atomic::{AtomicUsize, Ordering};

use proptest::collection::vec;
use proptest::prelude::*;
use proptest::test_runner::Config;

use super::*;

/// `default` cases, or `STRATO_FUZZ_CASES`; never a persistence file.
fn config(default: u32) -> Config {
    let cases = std::env::var("STRATO_FUZZ_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(default);
    Config { cases, failure_persistence: None, ..Config::default() }
}

/// One configured token: in the file (with an optional scope) or in the env value (unscoped).
#[derive(Debug, Clone)]
struct Configured {
    token: String,
    accounts: Option<Vec<String>>,
    in_env: bool,
}

const ACCOUNTS: [&str; 7] = ["acc-a", "acc-b", "ACC-A", "acc_a", "acc-a-2", "a", "0123456789abcdef0123456789abcdef"];

fn account() -> impl Strategy<Value = String> {
    prop_oneof![4 => prop::sample::select(ACCOUNTS.to_vec()).prop_map(str::to_owned), 1 => "[A-Za-z0-9_-]{1,16}"]
}

/// Tokens as a file line can hold them: no whitespace or comma, not starting with `#`.
fn token() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => prop::sample::select(vec!["tok", "tok2", "TOK", "tok-", "t", "accounts=acc-a", "ünï-tøken"]).prop_map(str::to_owned),
        1 => "[^\\s,#][^\\s,]{0,40}",
    ]
}

fn configured() -> impl Strategy<Value = Configured> {
    (token(), proptest::option::of(vec(account(), 0..4)), any::<bool>()).prop_map(|(token, accounts, env)| Configured {
        in_env: env && accounts.is_none(),
        token,
        accounts,
    })
}

/// Loads `entries` through a tokens file (with comments and blank lines) and an env value.
fn load(entries: &[Configured]) -> Tokens {
    static N: AtomicUsize = AtomicUsize::new(0);
    let mut file = String::from("# tokens\n\n");
    let mut env = Vec::new();
    for e in entries {
        match (&e.accounts, e.in_env) {
            (None, true) => env.push(e.token.clone()),
            (None, false) => file.push_str(&format!("  {}\t\n", e.token)),
            (Some(list), _) => file.push_str(&format!("{} accounts={}\n", e.token, list.join(","))),
        }
    }
    let path = std::env::temp_dir().join(format!("strato-auth-fuzz-{}-{}", std::process::id(), N.fetch_add(1, Ordering::Relaxed)));
    std::fs::write(&path, file).expect("write tokens file");
    let t = Tokens::load(Some(&path), Some(&env.join(" , "))).expect("load tokens");
    let _ = std::fs::remove_file(&path);
    t
}

/// Whether `presented` may act on `account`, from the configured list.
fn reference_allows(entries: &[Configured], presented: &str, account: Option<&str>) -> bool {
    entries.iter().any(|e| {
        e.token == presented
            && match (&e.accounts, account) {
                (Some(list), Some(a)) => list.iter().any(|l| l == a),
                _ => true,
            }
    })
}

/// An `Authorization` header for `token`, and the token it carries (None: not a bearer token).
fn authorization(token: &str, form: u8) -> (String, Option<String>) {
    match form % 9 {
        0 => (format!("Bearer {token}"), Some(token.to_owned())),
        1 => (format!("bearer {token}"), Some(token.to_owned())),
        2 => (format!("  BEARER   {token}  "), Some(token.to_owned())),
        3 => (format!("Basic {token}"), None),
        4 => (token.to_owned(), None),
        5 => (format!("Bearer\t{token}"), None),
        6 => ("Bearer ".to_owned(), None),
        7 => (format!("Bearer {token}x"), Some(format!("{token}x"))),
        _ => (format!("Bearer {token} {token}"), Some(format!("{token} {token}"))),
    }
}

/// Accounts to ask for: the configured ones, near misses of them, and none.
fn asked(entries: &[Configured], pick: usize, variant: u8) -> Option<String> {
    let listed: Vec<&String> = entries.iter().flat_map(|e| e.accounts.iter().flatten()).collect();
    let base = if listed.is_empty() { ACCOUNTS[pick % ACCOUNTS.len()].to_owned() } else { listed[pick % listed.len()].clone() };
    match variant % 9 {
        0 | 1 => Some(base),
        2 => Some(base.to_uppercase()),
        3 => Some(format!("{base}x")),
        4 => Some(base[..base.len() - 1].to_owned()),
        5 => Some(format!("{base} ")),
        6 => Some(String::new()),
        7 => Some(format!("%{:02X}{}", base.as_bytes()[0], &base[1..])),
        _ => None,
    }
}

proptest! {
    #![proptest_config(config(2048))]

    /// `check` (Authorization) and `check_token` (X-Auth-Key) allow exactly what the reference
    /// allows; refusals are 401 without a credential and 403 otherwise. In particular a token
    /// scoped to some accounts never passes for another one.
    #[test]
    fn the_check_allows_exactly_known_tokens_for_their_accounts(
        entries in vec(configured(), 1..6),
        asks in vec((any::<usize>(), any::<u8>(), any::<u8>(), prop_oneof![Just(None), token().prop_map(Some)]), 1..12),
    ) {
        let t = load(&entries);
        prop_assert_eq!(t.len(), entries.len());
        for (pick, variant, form, stranger) in asks {
            let account = asked(&entries, pick, variant);
            let token = stranger.unwrap_or_else(|| entries[pick % entries.len()].token.clone());
            let (header, carried) = authorization(&token, form);
            let want = carried.as_deref().is_some_and(|c| reference_allows(&entries, c, account.as_deref()));
            let got = t.check(Some(&header), account.as_deref());
            prop_assert_eq!(got.is_ok(), want, "{:?} for {:?}", header, account);
            if let Err(e) = got {
                prop_assert_eq!((e.status, e.code), (StatusCode::FORBIDDEN, AUTH_ERROR));
            }
            let got = t.check_token(&token, account.as_deref());
            prop_assert_eq!(got.is_ok(), reference_allows(&entries, &token, account.as_deref()), "X-Auth-Key {:?} for {:?}", token, account);
            let none = t.check(None, account.as_deref()).expect_err("no credential");
            prop_assert_eq!((none.status, none.code), (StatusCode::UNAUTHORIZED, AUTH_ERROR));
            // The scope rule on its own: a token only ever configured with scopes passes for an
            // account only if some scope lists it.
            let scopes: Vec<&Vec<String>> = entries.iter().filter(|e| e.token == token).map(|e| e.accounts.as_ref()).collect::<Option<_>>().unwrap_or_default();
            if !scopes.is_empty() && let Some(a) = &account
                && !scopes.iter().any(|s| s.contains(a)) {
                prop_assert!(t.check_token(&token, Some(a)).is_err(), "{:?} reached {:?} outside its scopes {:?}", token, a, scopes);
            }
        }
    }
}
