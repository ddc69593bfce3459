//! The roots the TLS client trusts: the system's CA bundle, read when the first HTTPS connection is
//! made, rather than a copy of the Mozilla set compiled into the binary (53 KiB of the aarch64
//! binary, and a set that ages with the binary instead of with the board's updates).
//!
//! Where they come from, in OpenSSL's terms so that the usual knobs work:
//! - `SSL_CERT_FILE`: a PEM bundle that replaces the system bundle (an explicit choice, so a file
//!   that cannot be read is an error, not a silent fallback);
//! - otherwise the first bundle of [`SYSTEM_BUNDLES`] that exists, and failing that the PEM files in
//!   [`SYSTEM_DIRS`];
//! - `SSL_CERT_DIR`: directories (colon-separated) whose PEM files are trusted as well;
//! - `NODE_EXTRA_CA_CERTS`: one more PEM file added to the rest, as in Node (a warning if unreadable);
//! - with the `bundled-roots` cargo feature, the Mozilla set compiled in, so a board without any
//!   bundle still connects.
//!
//! No roots at all is an error whose text says what to do.

use futures_rustls::rustls::RootCertStore;
use futures_rustls::rustls::pki_types::pem::{self, PemObject};
use futures_rustls::rustls::pki_types::{CertificateDer, TrustAnchor};
use std::ffi::OsString;
use std::io::{self, Read};
use std::path::{Path, PathBuf};

/// The CA bundle files of the common systems, tried in order when `SSL_CERT_FILE` is unset.
pub const SYSTEM_BUNDLES: &[&str] = &[
    // Debian, Raspberry Pi OS, Ubuntu, Arch, Gentoo, Alpine (all from their ca-certificates package)
    "/etc/ssl/certs/ca-certificates.crt",
    // Fedora, RHEL, CentOS
    "/etc/pki/tls/certs/ca-bundle.crt",
    "/etc/pki/ca-trust/extracted/pem/tls-ca-bundle.pem",
    // openSUSE
    "/etc/ssl/ca-bundle.pem",
    // Alpine's base image, macOS, the BSDs
    "/etc/ssl/cert.pem",
];

/// Directories of one-certificate PEM files, read only when none of [`SYSTEM_BUNDLES`] exists.
pub const SYSTEM_DIRS: &[&str] = &["/etc/ssl/certs"];

/// A bundle or certificate file larger than this is refused (the whole Mozilla set as PEM is
/// about 220 KB).
const MAX_PEM_FILE_BYTES: u64 = 4 * 1024 * 1024;
/// At most this many entries of one certificate directory are looked at.
const MAX_DIR_ENTRIES: usize = 2048;

/// Where to look for roots; [`RootSources::from_env`] fills it the way the gateway runs, tests
/// fill it by hand so they never depend on this machine's bundle.
#[derive(Debug, Clone, Default)]
pub struct RootSources {
    /// `SSL_CERT_FILE`: replaces the system bundle.
    pub cert_file: Option<PathBuf>,
    /// `SSL_CERT_DIR`: added to the rest; replaces [`RootSources::system_dirs`].
    pub cert_dirs: Vec<PathBuf>,
    /// `NODE_EXTRA_CA_CERTS`: added to the rest.
    pub extra_file: Option<PathBuf>,
    /// Bundle files tried in order when `cert_file` is unset.
    pub system_bundles: Vec<PathBuf>,
    /// Directories read when no bundle file exists and `SSL_CERT_DIR` is unset.
    pub system_dirs: Vec<PathBuf>,
}

impl RootSources {
    /// The sources named by this process's environment and the system's usual paths.
    pub fn from_env() -> RootSources {
        RootSources::from_vars(|name| std::env::var_os(name))
    }

    /// The sources named by `var` (an environment lookup) and the system's usual paths.
    pub fn from_vars(var: impl Fn(&str) -> Option<OsString>) -> RootSources {
        let set = |name: &str| var(name).filter(|v| !v.is_empty());
        RootSources {
            cert_file: set("SSL_CERT_FILE").map(PathBuf::from),
            cert_dirs: set("SSL_CERT_DIR").map(|dirs| std::env::split_paths(&dirs).collect()).unwrap_or_default(),
            extra_file: set("NODE_EXTRA_CA_CERTS").map(PathBuf::from),
            system_bundles: SYSTEM_BUNDLES.iter().map(PathBuf::from).collect(),
            system_dirs: SYSTEM_DIRS.iter().map(PathBuf::from).collect(),
        }
    }
}

/// The roots `sources` name, or an error that says what is wrong and what to do about it.
pub fn load(sources: &RootSources) -> io::Result<RootCertStore> {
    let mut found = Found::default();
    let bundle = match &sources.cert_file {
        Some(path) => {
            found.extend(read_pem_file(path).map_err(|e| explicit_file_error("SSL_CERT_FILE", path, &e))?);
            Some(path.clone())
        }
        None => first_system_bundle(&sources.system_bundles, &mut found),
    };
    let dirs = match (&bundle, sources.cert_dirs.is_empty()) {
        (_, false) => sources.cert_dirs.as_slice(),
        (None, true) => sources.system_dirs.as_slice(),
        (Some(_), true) => &[],
    };
    for dir in dirs {
        read_pem_dir(dir, &mut found);
    }
    if let Some(path) = &sources.extra_file {
        match read_pem_file(path) {
            Ok(extra) => found.extend(extra),
            Err(e) => log::warn!(target: "tls", "NODE_EXTRA_CA_CERTS={}: {e}; not trusted", path.display()),
        }
    }
    let mut roots = bundled_roots();
    roots.roots.extend(found.anchors);
    // A hashed directory links each certificate under two or three names, and the sources may
    // overlap (NODE_EXTRA_CA_CERTS often names the system bundle): keep one of each.
    roots.roots.sort_unstable_by(|a, b| anchor_key(a).cmp(&anchor_key(b)));
    roots.roots.dedup();
    log::debug!(
        target: "tls",
        "{} root(s) trusted from {}, {} unusable",
        roots.len(),
        describe(bundle.as_deref(), dirs),
        found.unusable
    );
    if roots.is_empty() {
        return Err(no_roots_error(sources));
    }
    Ok(roots)
}

/// Trust anchors read so far, and how many certificates could not be one.
#[derive(Default)]
struct Found {
    anchors: Vec<TrustAnchor<'static>>,
    unusable: usize,
}

impl Found {
    fn extend(&mut self, more: Found) {
        self.anchors.extend(more.anchors);
        self.unusable += more.unusable;
    }
}

fn anchor_key<'a>(anchor: &'a TrustAnchor<'_>) -> (&'a [u8], &'a [u8], Option<&'a [u8]>) {
    (anchor.subject.as_ref(), anchor.subject_public_key_info.as_ref(), anchor.name_constraints.as_ref().map(|n| n.as_ref()))
}

/// Reads the first of `bundles` that exists into `found`; returns its path.
fn first_system_bundle(bundles: &[PathBuf], found: &mut Found) -> Option<PathBuf> {
    for path in bundles {
        match read_pem_file(path) {
            Ok(roots) => {
                found.extend(roots);
                return Some(path.clone());
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => log::warn!(target: "tls", "{}: {e}; trying the next CA bundle", path.display()),
        }
    }
    None
}

/// Every PEM certificate in the files of `dir` (files that hold none are skipped: a certificate
/// directory also holds CRLs and READMEs).
fn read_pem_dir(dir: &Path, found: &mut Found) {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) => {
            if e.kind() != io::ErrorKind::NotFound {
                log::warn!(target: "tls", "{}: {e}; no roots read from it", dir.display());
            }
            return;
        }
    };
    for entry in entries.flatten().take(MAX_DIR_ENTRIES) {
        let path = entry.path();
        // metadata() follows links: hashed directories are mostly symlinks.
        if std::fs::metadata(&path).is_ok_and(|m| m.is_file()) {
            if let Ok(roots) = read_pem_file(&path) {
                found.extend(roots);
            }
        }
    }
}

/// The trust anchors of one PEM file; a file that holds no certificate is an error.
///
/// The file is decoded as it is read, and each certificate is reduced to its anchor (subject
/// and public key, under half of the certificate) before the next is decoded: the whole bundle
/// and all its certificates are never in memory at once. They were, and the allocator kept much
/// of that transient half megabyte for the life of the process.
fn read_pem_file(path: &Path) -> io::Result<Found> {
    let file = std::fs::File::open(path)?;
    if file.metadata()?.len() > MAX_PEM_FILE_BYTES {
        return Err(io::Error::new(io::ErrorKind::InvalidData, format!("larger than {MAX_PEM_FILE_BYTES} bytes")));
    }
    // A file that grows after the check is read up to the limit.
    let mut one = RootCertStore::empty();
    let mut unusable = 0;
    for cert in CertificateDer::pem_reader_iter(file.take(MAX_PEM_FILE_BYTES)) {
        match cert {
            Ok(cert) => {
                if one.add(cert).is_err() {
                    unusable += 1;
                }
            }
            Err(pem::Error::Io(e)) => return Err(e),
            // A damaged section is skipped, as a certificate that is not a usable anchor is.
            Err(_) => {}
        }
    }
    if one.is_empty() && unusable == 0 {
        return Err(io::Error::new(io::ErrorKind::InvalidData, "no PEM certificates in the file"));
    }
    Ok(Found { anchors: one.roots, unusable })
}

fn explicit_file_error(var: &str, path: &Path, e: &io::Error) -> io::Error {
    io::Error::new(
        e.kind(),
        format!(
            "{var}={}: {e}; point it at a readable PEM bundle of trusted CA certificates, or unset it to use the system's",
            path.display()
        ),
    )
}

fn no_roots_error(sources: &RootSources) -> io::Error {
    let looked: Vec<String> = sources.system_bundles.iter().chain(&sources.system_dirs).map(|p| p.display().to_string()).collect();
    io::Error::new(
        io::ErrorKind::NotFound,
        format!(
            "no trusted CA certificates for HTTPS (looked in {}): install the system's CA bundle \
             (`apt install ca-certificates` on Debian and Raspberry Pi OS, `apk add ca-certificates` on Alpine) \
             or set SSL_CERT_FILE to a PEM file of trusted CA certificates",
            looked.join(", ")
        ),
    )
}

fn describe(bundle: Option<&Path>, dirs: &[PathBuf]) -> String {
    let mut places: Vec<String> = bundle.map(|p| p.display().to_string()).into_iter().collect();
    places.extend(dirs.iter().map(|d| d.display().to_string()));
    if cfg!(feature = "bundled-roots") {
        places.push("the compiled-in Mozilla set".to_string());
    }
    places.join(", ")
}

#[cfg(feature = "bundled-roots")]
fn bundled_roots() -> RootCertStore {
    RootCertStore { roots: webpki_roots::TLS_SERVER_ROOTS.to_vec() }
}

#[cfg(not(feature = "bundled-roots"))]
fn bundled_roots() -> RootCertStore {
    RootCertStore::empty()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(name: &str) -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/tls").join(name)
    }

    fn scratch(tag: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("oc-roots-{tag}-{}", crate::ids::uuid()));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    /// Sources that see nothing of this machine: no system bundle, no system directory.
    fn nothing_here(dir: &Path) -> RootSources {
        RootSources { system_bundles: vec![dir.join("no-bundle.crt")], system_dirs: vec![dir.join("no-certs")], ..RootSources::default() }
    }

    /// How many roots the compiled-in set adds (none without the feature).
    fn bundled() -> usize {
        bundled_roots().len()
    }

    #[test]
    fn the_environment_names_the_sources() {
        let vars = |name: &str| match name {
            "SSL_CERT_FILE" => Some(OsString::from("/x/bundle.pem")),
            "SSL_CERT_DIR" => Some(OsString::from("/a:/b")),
            "NODE_EXTRA_CA_CERTS" => Some(OsString::new()),
            _ => None,
        };
        let sources = RootSources::from_vars(vars);
        assert_eq!(sources.cert_file, Some(PathBuf::from("/x/bundle.pem")));
        assert_eq!(sources.cert_dirs, vec![PathBuf::from("/a"), PathBuf::from("/b")]);
        assert_eq!(sources.extra_file, None, "an empty variable is unset");
        assert_eq!(sources.system_bundles[0], PathBuf::from("/etc/ssl/certs/ca-certificates.crt"));
    }

    #[test]
    fn ssl_cert_file_replaces_the_system_bundle() {
        let dir = scratch("file");
        let system = dir.join("system.crt");
        std::fs::copy(fixture("server.pem"), &system).unwrap();
        let sources = RootSources { cert_file: Some(fixture("ca.pem")), system_bundles: vec![system.clone()], ..nothing_here(&dir) };
        assert_eq!(load(&sources).unwrap().len(), 1 + bundled());
        let sources = RootSources { system_bundles: vec![dir.join("absent.crt"), system], ..nothing_here(&dir) };
        assert_eq!(load(&sources).unwrap().len(), 1 + bundled(), "the first bundle that exists is read");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn an_unreadable_ssl_cert_file_is_an_error_that_names_it() {
        let dir = scratch("bad");
        let not_pem = dir.join("not.pem");
        std::fs::write(&not_pem, "hello").unwrap();
        for path in [dir.join("missing.pem"), not_pem] {
            let sources = RootSources { cert_file: Some(path.clone()), ..nothing_here(&dir) };
            let err = load(&sources).unwrap_err().to_string();
            assert!(err.contains("SSL_CERT_FILE=") && err.contains(&path.display().to_string()), "{err}");
        }
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn certificate_directories_are_read_once_per_certificate() {
        let dir = scratch("dir");
        let certs = dir.join("certs");
        std::fs::create_dir_all(&certs).unwrap();
        std::fs::copy(fixture("ca.pem"), certs.join("test-ca.pem")).unwrap();
        std::os::unix::fs::symlink(certs.join("test-ca.pem"), certs.join("0a1b2c3d.0")).unwrap();
        std::fs::write(certs.join("README"), "not a certificate").unwrap();
        // The system directory is read when no bundle exists...
        let sources = RootSources { system_dirs: vec![certs.clone()], ..nothing_here(&dir) };
        assert_eq!(load(&sources).unwrap().len(), 1 + bundled());
        // ...and SSL_CERT_DIR adds to SSL_CERT_FILE, as NODE_EXTRA_CA_CERTS does.
        let sources = RootSources {
            cert_file: Some(fixture("server.pem")),
            cert_dirs: vec![certs],
            extra_file: Some(fixture("ca.pem")),
            ..nothing_here(&dir)
        };
        assert_eq!(load(&sources).unwrap().len(), 2 + bundled());
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_damaged_certificate_costs_only_itself() {
        let dir = scratch("damaged");
        let bundle = dir.join("bundle.pem");
        let mut text = std::fs::read_to_string(fixture("ca.pem")).unwrap();
        text.push_str("-----BEGIN CERTIFICATE-----\nnot base64 at all!\n-----END CERTIFICATE-----\n");
        text.push_str(&std::fs::read_to_string(fixture("server.pem")).unwrap());
        // A section whose end marker never comes: the file ends inside it.
        text.push_str("-----BEGIN CERTIFICATE-----\nMIIB\n");
        std::fs::write(&bundle, text).unwrap();
        let sources = RootSources { cert_file: Some(bundle), ..nothing_here(&dir) };
        assert_eq!(load(&sources).unwrap().len(), 2 + bundled());
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_certificate_named_twice_is_trusted_once() {
        // As on machines that set NODE_EXTRA_CA_CERTS to the system bundle itself.
        let dir = scratch("twice");
        let sources = RootSources { cert_file: Some(fixture("ca.pem")), extra_file: Some(fixture("ca.pem")), ..nothing_here(&dir) };
        assert_eq!(load(&sources).unwrap().len(), 1 + bundled());
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_bundle_over_the_size_limit_is_refused_unread() {
        let dir = scratch("huge");
        let huge = dir.join("huge.pem");
        // Sparse: the limit is checked before anything is read.
        std::fs::File::create(&huge).unwrap().set_len(MAX_PEM_FILE_BYTES + 1).unwrap();
        let sources = RootSources { cert_file: Some(huge), ..nothing_here(&dir) };
        let err = load(&sources).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidData);
        assert!(err.to_string().contains("larger than 4194304 bytes"), "{err}");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn no_bundle_at_all_says_what_to_do() {
        let dir = scratch("none");
        let loaded = load(&nothing_here(&dir));
        if cfg!(feature = "bundled-roots") {
            assert!(loaded.unwrap().len() > 100, "the compiled-in set is the fallback");
        } else {
            let err = loaded.unwrap_err();
            assert_eq!(err.kind(), io::ErrorKind::NotFound);
            let text = err.to_string();
            for needle in ["no trusted CA certificates", "no-bundle.crt", "ca-certificates", "SSL_CERT_FILE"] {
                assert!(text.contains(needle), "{needle:?} missing from {text}");
            }
        }
        let _ = std::fs::remove_dir_all(&dir);
    }
}
