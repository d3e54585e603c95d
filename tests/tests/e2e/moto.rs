//! A real Polly API on loopback: moto's server (PyPI `moto` with its Polly and IAM backends,
//! and flask and flask-cors for the server, which `.ci/run` installs), started on a free port. moto implements `SynthesizeSpeech` (its audio is eight
//! zero bytes, with Polly's `Content-Type`) and `DescribeVoices` (Polly's voice list), checks
//! request parameters as Polly does, and, with IAM authentication switched on, checks SigV4
//! signatures with botocore's signer.

use std::net::TcpStream;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use krunner_tests::{free_port, python_has, require};

/// How long moto may take to start (it imports a lot).
const START: Duration = Duration::from_secs(90);

/// A moto server; stopped when dropped, and killed with the test process in any case.
pub struct Moto {
    child: Child,
    /// `http://127.0.0.1:<port>` (or `https://`).
    pub endpoint: String,
    _log: tempfile::NamedTempFile,
}

impl Moto {
    /// Starts a server, or `None` (the test is skipped) where moto is not installed.
    pub fn start() -> Option<Self> {
        Self::start_with("http", &[])
    }

    /// Starts a server for HTTPS in `dir` with a certificate for 127.0.0.1 from a CA of its
    /// own; returns it and the CA's certificate (a PEM file), or `None` where moto is not
    /// installed.
    pub fn start_https(dir: &Path) -> Option<(Self, PathBuf)> {
        if !installed() {
            return None;
        }
        let out = Command::new("python3")
            .args(["-c", CERTIFICATES])
            .arg(dir)
            .output()
            .expect("run python3");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let (cert, key) = (dir.join("server.pem"), dir.join("server.key"));
        let args = [
            "-c",
            cert.to_str().expect("UTF-8"),
            "-k",
            key.to_str().expect("UTF-8"),
        ];
        let moto = Self::start_with("https", &args)?;
        Some((moto, dir.join("ca.pem")))
    }

    fn start_with(scheme: &str, args: &[&str]) -> Option<Self> {
        if !installed() {
            return None;
        }
        let port = free_port();
        let log = tempfile::NamedTempFile::new().expect("log file");
        let mut cmd = Command::new("python3");
        cmd.args([
            "-m",
            "moto.server",
            "-H",
            "127.0.0.1",
            "-p",
            &port.to_string(),
        ])
        .args(args)
        .stdin(Stdio::null())
        .stdout(log.reopen().expect("log"))
        .stderr(log.reopen().expect("log"));
        // SAFETY: prctl is async-signal-safe; the server dies with the thread that started it.
        unsafe {
            cmd.pre_exec(|| {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                Ok(())
            });
        }
        let child = cmd.spawn().expect("start moto");
        let mut moto = Moto {
            child,
            endpoint: format!("{scheme}://127.0.0.1:{port}"),
            _log: log,
        };
        let deadline = Instant::now() + START;
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            let exited = moto.child.try_wait().expect("moto's status");
            if exited.is_some() || Instant::now() > deadline {
                panic!(
                    "moto did not start ({exited:?}): {}",
                    std::fs::read_to_string(moto._log.path()).unwrap_or_default()
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Some(moto)
    }

    /// Creates an IAM user allowed `polly:*` and switches IAM authentication on, so that
    /// every later request must carry a valid signature of that user's key; returns the key
    /// (access key id, secret).
    pub fn enforce_signatures(&self) -> (String, String) {
        let script = r#"
import json, sys, urllib.request
import boto3
endpoint = sys.argv[1]
iam = boto3.client("iam", endpoint_url=endpoint, region_name="us-east-1",
                   aws_access_key_id="AKIAIOSFODNN7EXAMPLE", aws_secret_access_key="setup")
iam.create_user(UserName="speaker")
iam.put_user_policy(UserName="speaker", PolicyName="speak", PolicyDocument=json.dumps({
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Action": "polly:*", "Resource": "*"}]}))
key = iam.create_access_key(UserName="speaker")["AccessKey"]
urllib.request.urlopen(urllib.request.Request(
    endpoint + "/moto-api/reset-auth", data=b"0", method="POST",
    headers={"Content-Type": "text/plain"})).read()
print(key["AccessKeyId"], key["SecretAccessKey"])
"#;
        let out = Command::new("python3")
            .args(["-c", script, &self.endpoint])
            .output()
            .expect("run python3");
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{text}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let mut words = text.split_whitespace().map(str::to_owned);
        let id = words.next().expect("access key id");
        let secret = words.next().expect("secret");
        (id, secret)
    }
}

/// Writes `ca.pem`, and `server.pem` and `server.key` for 127.0.0.1 signed by that CA, into
/// the directory `sys.argv[1]` (with `cryptography`, which moto depends on).
const CERTIFICATES: &str = r#"
import datetime, ipaddress, pathlib, sys
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
out = pathlib.Path(sys.argv[1])
now = datetime.datetime.now(datetime.timezone.utc)
def cert(subject, key, issuer, issuer_key, extensions):
    b = (x509.CertificateBuilder().subject_name(subject).issuer_name(issuer)
         .public_key(key.public_key()).serial_number(x509.random_serial_number())
         .not_valid_before(now - datetime.timedelta(days=1))
         .not_valid_after(now + datetime.timedelta(days=1)))
    for ext, critical in extensions:
        b = b.add_extension(ext, critical=critical)
    return b.sign(issuer_key, hashes.SHA256())
name = lambda cn: x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])
ca_key, key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
ca = cert(name("krunner test CA"), ca_key, name("krunner test CA"), ca_key,
          [(x509.BasicConstraints(ca=True, path_length=None), True)])
server = cert(name("127.0.0.1"), key, ca.subject, ca_key, [
    (x509.BasicConstraints(ca=False, path_length=None), True),
    (x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False),
    (x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), False)])
pem = serialization.Encoding.PEM
(out / "ca.pem").write_bytes(ca.public_bytes(pem))
(out / "server.pem").write_bytes(server.public_bytes(pem))
(out / "server.key").write_bytes(key.private_bytes(
    pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
"#;

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Whether moto's server is installed (the test is skipped, or fails in CI, when not).
fn installed() -> bool {
    static INSTALLED: OnceLock<bool> = OnceLock::new();
    let installed = *INSTALLED.get_or_init(|| python_has("moto.server"));
    require(
        "moto's server (pip install 'moto[polly,iam]' flask flask-cors)",
        installed,
    )
}

/// One server for the tests that only read from it, started once and kept (on a thread of
/// its own, which lives as long as the test process) until the process exits; `None` where
/// moto is not installed.
pub fn shared() -> Option<&'static str> {
    static SHARED: OnceLock<Option<String>> = OnceLock::new();
    if !installed() {
        return None;
    }
    SHARED
        .get_or_init(|| {
            let (tx, rx) = std::sync::mpsc::channel();
            std::thread::spawn(move || {
                let moto = Moto::start();
                let _ = tx.send(moto.as_ref().map(|m| m.endpoint.clone()));
                loop {
                    std::thread::park();
                }
            });
            rx.recv().expect("moto failed to start")
        })
        .as_deref()
}
