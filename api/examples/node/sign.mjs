// Signs with a keyquorum cluster from Node.js and verifies the signatures
// with node:crypto, for an Ed25519 key and a secp256k1 key.
//
// Everything comes from the environment:
//   KQ_PROTO          path to api/keyquorum.proto
//   KQ_ENDPOINT       a node's client address, host:port
//   KQ_CA, KQ_CERT, KQ_KEY   PEM files: cluster CA, client certificate and key
//   KQ_ED_HANDLE, KQ_ED_PUBKEY   a handle for the Ed25519 key, its SPKI PEM file
//   KQ_EC_HANDLE, KQ_EC_PUBKEY   the same for the secp256k1 key
//
// It prints one JSON line per key and exits 0 when every signature verifies.
import { readFileSync } from 'node:fs';
import { createHash, createPublicKey, randomUUID, verify } from 'node:crypto';
import grpc from '@grpc/grpc-js';
import protoLoader from '@grpc/proto-loader';

const env = (name) => {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is not set`);
  return v;
};

const def = protoLoader.loadSync(env('KQ_PROTO'), { keepCase: false, longs: String, enums: String, defaults: true });
const pkg = grpc.loadPackageDefinition(def).keyquorum.v1;
const creds = grpc.credentials.createSsl(
  readFileSync(env('KQ_CA')), readFileSync(env('KQ_KEY')), readFileSync(env('KQ_CERT')),
);
const client = new pkg.KeyService(env('KQ_ENDPOINT'), creds);

const sign = (req) => new Promise((resolve, reject) => {
  const deadline = new Date(Date.now() + 60_000);
  client.Sign(req, { deadline }, (err, resp) => (err ? reject(err) : resolve(resp)));
});

const message = Buffer.from('hello from node, signed by a threshold of keyquorum nodes');
let ok = true;

// Ed25519 signs the message itself.
{
  const pub = createPublicKey(readFileSync(env('KQ_ED_PUBKEY')));
  const r = await sign({ handle: env('KQ_ED_HANDLE'), digest: message, requestId: randomUUID() });
  const valid = verify(null, message, pub, r.signature);
  ok &&= valid;
  console.log(JSON.stringify({ algorithm: 'ed25519', key: r.key, version: r.version, valid }));
}

// ECDSA secp256k1 signs a 32-byte digest; node:crypto hashes the message
// itself and checks the DER signature.
{
  const pub = createPublicKey(readFileSync(env('KQ_EC_PUBKEY')));
  const digest = createHash('sha256').update(message).digest();
  const r = await sign({ handle: env('KQ_EC_HANDLE'), digest, requestId: randomUUID() });
  const valid = verify('sha256', message, pub, r.signature);
  ok &&= valid;
  console.log(JSON.stringify({ algorithm: 'ecdsa-secp256k1', curve: pub.asymmetricKeyDetails.namedCurve, key: r.key, version: r.version, valid }));
}

client.close();
process.exit(ok ? 0 : 1);
