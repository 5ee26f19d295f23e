/**
 * A throwaway PKI for the mTLS tests, made at test time: a CA, a server certificate for
 * 127.0.0.1/localhost and client certificates. Node's crypto makes the RSA keys; node-forge
 * (pure JS, no dependencies) writes the X.509 certificates, which Node cannot. Validity is
 * relative to the current clock, so the suite passes on any date (and 400 days ahead).
 */
import { generateKeyPairSync, randomBytes } from 'node:crypto'
import forge from 'node-forge'

/** A certificate and its private key, PEM. */
export interface Pem {
  cert: string
  key: string
}

/** A CA that can issue certificates. */
export interface TestCa extends Pem {
  issue(options: IssueOptions): Pem
}

export interface IssueOptions {
  /** Subject RDNs in order, e.g. `[['O', 'payment-auth e2e'], ['CN', 'tls-client']]`. */
  subject: Array<[string, string]>
  /** `serverAuth` for a server (with SANs 127.0.0.1 and localhost), `clientAuth` for a client. */
  usage: 'serverAuth' | 'clientAuth'
}

const HOUR = 3600_000

function rsaKeys(): { privateKey: forge.pki.rsa.PrivateKey; publicKey: forge.pki.rsa.PublicKey; keyPem: string } {
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 })
  const keyPem = privateKey.export({ type: 'pkcs1', format: 'pem' }).toString()
  const forgeKey = forge.pki.privateKeyFromPem(keyPem) as forge.pki.rsa.PrivateKey
  return { privateKey: forgeKey, publicKey: forge.pki.rsa.setPublicKey(forgeKey.n, forgeKey.e), keyPem }
}

const attributes = (rdns: Array<[string, string]>): forge.pki.CertificateField[] => rdns.map(([shortName, value]) => ({ shortName, value }))

function certificate(
  subject: Array<[string, string]>,
  publicKey: forge.pki.rsa.PublicKey,
  issuer: { attributes: forge.pki.CertificateField[]; key: forge.pki.rsa.PrivateKey } | undefined,
  selfKey: forge.pki.rsa.PrivateKey,
  extensions: object[],
): string {
  const cert = forge.pki.createCertificate()
  cert.publicKey = publicKey
  cert.serialNumber = `01${randomBytes(8).toString('hex')}`
  cert.validity.notBefore = new Date(Date.now() - HOUR)
  cert.validity.notAfter = new Date(Date.now() + 24 * HOUR)
  cert.setSubject(attributes(subject))
  cert.setIssuer(issuer ? issuer.attributes : attributes(subject))
  cert.setExtensions(extensions)
  cert.sign(issuer ? issuer.key : selfKey, forge.md.sha256.create())
  return forge.pki.certificateToPem(cert)
}

/** Creates a self-signed CA named `name`. */
export function createCa(name: string): TestCa {
  const ca = rsaKeys()
  const subject: Array<[string, string]> = [
    ['O', 'payment-auth e2e'],
    ['CN', name],
  ]
  const cert = certificate(subject, ca.publicKey, undefined, ca.privateKey, [
    { name: 'basicConstraints', cA: true, critical: true },
    { name: 'keyUsage', keyCertSign: true, cRLSign: true, critical: true },
  ])
  const issuer = { attributes: attributes(subject), key: ca.privateKey }
  return {
    cert,
    key: ca.keyPem,
    issue({ subject, usage }) {
      const leaf = rsaKeys()
      const extensions: object[] = [
        { name: 'basicConstraints', cA: false },
        { name: 'keyUsage', digitalSignature: true, keyEncipherment: true, critical: true },
        { name: 'extKeyUsage', [usage]: true },
      ]
      if (usage === 'serverAuth') {
        extensions.push({
          name: 'subjectAltName',
          altNames: [
            { type: 7, ip: '127.0.0.1' },
            { type: 2, value: 'localhost' },
          ],
        })
      }
      return { cert: certificate(subject, leaf.publicKey, issuer, leaf.privateKey, extensions), key: leaf.keyPem }
    },
  }
}

/**
 * The subject of a certificate as an RFC 4514 string (`CN=tls-client,O=payment-auth e2e`:
 * the last RDN first), which is how RFC 8705 `tls_client_auth_subject_dn` is written.
 * `subject` is Node's `X509Certificate.subject` (one `KEY=value` per line, first RDN first).
 */
export function rfc4514(subject: string): string {
  return subject.split('\n').filter(Boolean).reverse().join(',')
}
