// Drives annuaire with matrix-js-sdk, the library Element and other clients use,
// and prints what the SDK got back as one JSON object. Two steps, because between
// them a person clicks the link in the verification mail (the test does it):
//
//   node client.mjs start  IS_URL OPENID_TOKEN SERVER_NAME EMAIL SECRET
//   node client.mjs finish IS_URL TOKEN SID SECRET MXID EMAIL
import * as sdk from "matrix-js-sdk";
import { logger } from "matrix-js-sdk/lib/logger.js";

logger.disableAll?.(); // the SDK logs every request on stdout otherwise

const [cmd, isUrl, ...args] = process.argv.slice(2);
// No homeserver is needed for identity-server calls: an unused loopback port.
const client = sdk.createClient({ baseUrl: "http://127.0.0.1:9", idBaseUrl: isUrl });
const out = {};

async function failure(promise) {
  try {
    await promise;
    return null;
  } catch (e) {
    return { httpStatus: e.httpStatus, errcode: e.errcode };
  }
}

if (cmd === "start") {
  const [openid, serverName, email, secret] = args;
  const reg = await client.registerWithIdentityServer({
    access_token: openid, token_type: "Bearer", matrix_server_name: serverName, expires_in: 3600,
  });
  out.token = reg.token ?? reg.access_token;
  const terms = await client.getTerms(sdk.SERVICE_TYPES.IS, isUrl);
  out.policies = terms.policies;
  out.before_terms = await failure(client.getIdentityAccount(out.token));
  const urls = Object.values(terms.policies).map((p) => p.fr?.url ?? p.en?.url);
  out.agree = await client.agreeToTerms(sdk.SERVICE_TYPES.IS, isUrl, out.token, urls);
  out.account = await client.getIdentityAccount(out.token);
  out.hash_details = await client.getIdentityHashDetails(out.token);
  const req = await client.requestEmailToken(email, secret, 1, undefined, out.token);
  out.sid = req.sid;
} else if (cmd === "finish") {
  const [token, sid, secret, mxid, email] = args;
  out.bind = await client.http.idServerRequest(
    sdk.Method.Post, "/3pid/bind", { sid, client_secret: secret, mxid }, sdk.IdentityPrefix.V2, token);
  out.lookup = await client.lookupThreePid("email", email, token);
  out.bulk = await client.bulkLookupThreePids([["email", email], ["email", "nobody@nowhere.gouv.fr"]], token);
  out.bogus = await failure(client.getIdentityAccount("bogus-token"));
} else {
  throw new Error(`unknown step ${cmd}`);
}
process.stdout.write(JSON.stringify(out) + "\n");
