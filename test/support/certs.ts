/**
 * Test PKI made with openssl (and keytool for the Java side): a CA, a server certificate for 127.0.0.1/localhost
 * signed by it, a client certificate, and a second, unrelated CA that a misconfigured client would trust instead.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface TestPki {
  dir: string;
  caCert: string;
  /** A CA that signed nothing we serve: trusting only it must fail verification. */
  rogueCaCert: string;
  serverCert: string;
  serverKey: string;
  /** Server key + certificate chain as a PKCS12 keystore (Kafka), password `keystorePassword`. */
  serverKeystore: string;
  keystorePassword: string;
  clientCert: string;
  clientKey: string;
}

function openssl(dir: string, args: string[]): void {
  execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
}

function makeCa(dir: string, name: string): void {
  openssl(dir, ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-sha256', '-days', '2', '-subj', `/CN=${name}`,
    '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign',
    '-keyout', `${name}.key`, '-out', `${name}.crt`]);
}

function makeLeaf(dir: string, name: string, ca: string, ext: string): void {
  openssl(dir, ['req', '-newkey', 'rsa:2048', '-nodes', '-sha256', '-subj', `/CN=${name}`, '-keyout', `${name}.key`, '-out', `${name}.csr`]);
  writeFileSync(join(dir, `${name}.ext`), ext);
  openssl(dir, ['x509', '-req', '-in', `${name}.csr`, '-CA', `${ca}.crt`, '-CAkey', `${ca}.key`, '-CAcreateserial', '-days', '2',
    '-sha256', '-extfile', `${name}.ext`, '-out', `${name}.crt`]);
}

export function makeTestPki(): TestPki {
  const dir = mkdtempSync(join(tmpdir(), 'etg-pki-'));
  makeCa(dir, 'test-ca');
  makeCa(dir, 'rogue-ca');
  makeLeaf(dir, 'server', 'test-ca', 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n');
  makeLeaf(dir, 'client', 'test-ca', 'extendedKeyUsage=clientAuth\n');
  const keystorePassword = 'keystore-pw-' + Math.random().toString(36).slice(2, 10);
  // keytool would do this too; openssl's PKCS12 (AES/PBKDF2) is readable by Java 17's PKCS12 keystore.
  openssl(dir, ['pkcs12', '-export', '-in', 'server.crt', '-inkey', 'server.key', '-certfile', 'test-ca.crt', '-name', 'server',
    '-passout', `pass:${keystorePassword}`, '-out', 'server.p12']);
  // Prove the keystore opens in Java before a broker fails on it with a less direct message.
  execFileSync('keytool', ['-list', '-keystore', 'server.p12', '-storetype', 'PKCS12', '-storepass', keystorePassword], {
    cwd: dir,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  return {
    dir,
    caCert: join(dir, 'test-ca.crt'),
    rogueCaCert: join(dir, 'rogue-ca.crt'),
    serverCert: join(dir, 'server.crt'),
    serverKey: join(dir, 'server.key'),
    serverKeystore: join(dir, 'server.p12'),
    keystorePassword,
    clientCert: join(dir, 'client.crt'),
    clientKey: join(dir, 'client.key'),
  };
}
