/**
 * Certificates made at test time, the way an operator makes them: openssl for keys and certificates,
 * the JDK's keytool for the broker's Java trust store. A CA, a broker certificate for 127.0.0.1/localhost,
 * a client certificate for mTLS (its key encrypted, so the key password path is exercised), and an
 * unrelated second CA that must not be trusted.
 */
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';

export interface TestPki {
  dir: string;
  /** PEM CA certificate that signed the broker and client certificates. */
  caPem: string;
  /** PEM certificate of a CA that signed nothing here. */
  otherCaPem: string;
  /** PKCS#12 key store of the broker (key + certificate chain) and its password. */
  brokerKeystore: string;
  /** PKCS#12 trust store (made by keytool) holding the CA, for the broker to verify client certificates. */
  brokerTruststore: string;
  storePassword: string;
  /** Client certificate (PEM), its encrypted private key (PEM) and that key's password. */
  clientCertPem: string;
  clientKeyPem: string;
  clientKeyPassword: string;
}

function run(cmd: string, args: string[]): void {
  const r = spawnSync(cmd, args, { encoding: 'utf8' });
  if (r.error) throw new Error(`cannot run ${cmd}: ${r.error.message}`);
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed (exit ${r.status}):\n${r.stderr}${r.stdout}`);
}

/**
 * A self-signed certificate and its unencrypted key, `<name>.pem` and `<name>.key` in `dir`; `addext`: its
 * X.509 extensions (e.g. `subjectAltName=IP:127.0.0.1,DNS:localhost`).
 */
export function makeSelfSigned(dir: string, name: string, cn: string, addext: string[] = []): { pem: string; key: string } {
  const pem = join(dir, `${name}.pem`);
  const key = join(dir, `${name}.key`);
  run('openssl', [
    'req',
    '-x509',
    '-newkey',
    'rsa:2048',
    '-nodes',
    '-keyout',
    key,
    '-out',
    pem,
    '-days',
    '2',
    '-subj',
    `/CN=${cn}`,
    ...addext.flatMap((ext) => ['-addext', ext]),
  ]);
  return { pem, key };
}

function makeCa(dir: string, name: string, cn: string): { pem: string; key: string } {
  return makeSelfSigned(dir, name, cn, ['basicConstraints=critical,CA:TRUE', 'keyUsage=critical,keyCertSign,cRLSign']);
}

function signLeaf(
  dir: string,
  name: string,
  cn: string,
  ca: { pem: string; key: string },
  extensions: string,
): { pem: string; key: string } {
  const key = join(dir, `${name}.key`);
  const csr = join(dir, `${name}.csr`);
  const pem = join(dir, `${name}.pem`);
  const ext = join(dir, `${name}.ext`);
  writeFileSync(ext, extensions);
  run('openssl', ['req', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', csr, '-subj', `/CN=${cn}`]);
  run('openssl', [
    'x509',
    '-req',
    '-in',
    csr,
    '-CA',
    ca.pem,
    '-CAkey',
    ca.key,
    '-CAcreateserial',
    '-out',
    pem,
    '-days',
    '2',
    '-sha256',
    '-extfile',
    ext,
  ]);
  return { pem, key };
}

export function makeTestPki(dir: string): TestPki {
  const storePassword = 'store-pass-4711';
  const clientKeyPassword = 'client-key-pass-0815';
  const ca = makeCa(dir, 'ca', 'Sluice Test CA');
  const other = makeCa(dir, 'other-ca', 'Unrelated CA');

  const broker = signLeaf(
    dir,
    'broker',
    'localhost',
    ca,
    'basicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth,clientAuth\nsubjectAltName=IP:127.0.0.1,DNS:localhost\n',
  );
  const brokerKeystore = join(dir, 'broker.keystore.p12');
  run('openssl', [
    'pkcs12',
    '-export',
    '-in',
    broker.pem,
    '-inkey',
    broker.key,
    '-certfile',
    ca.pem,
    '-name',
    'broker',
    '-out',
    brokerKeystore,
    '-passout',
    `pass:${storePassword}`,
  ]);
  const brokerTruststore = join(dir, 'broker.truststore.p12');
  run('keytool', [
    '-importcert',
    '-noprompt',
    '-alias',
    'sluice-test-ca',
    '-file',
    ca.pem,
    '-keystore',
    brokerTruststore,
    '-storetype',
    'PKCS12',
    '-storepass',
    storePassword,
  ]);

  const client = signLeaf(
    dir,
    'client',
    'sluice-client',
    ca,
    'basicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=clientAuth\n',
  );
  const clientKeyPem = join(dir, 'client.encrypted.key');
  run('openssl', ['pkey', '-in', client.key, '-out', clientKeyPem, '-aes256', '-passout', `pass:${clientKeyPassword}`]);

  return {
    dir,
    caPem: ca.pem,
    otherCaPem: other.pem,
    brokerKeystore,
    brokerTruststore,
    storePassword,
    clientCertPem: client.pem,
    clientKeyPem,
    clientKeyPassword,
  };
}
