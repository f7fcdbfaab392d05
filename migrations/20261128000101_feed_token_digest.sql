-- Calendar feed tokens at rest: only their SHA-256 is kept, like refresh tokens, so that a read
-- of the database does not hand out everyone's calendar. The address can still be shown again:
-- the token is an HMAC, under a key derived from the service's signing secret, of the owner and
-- a random nonce kept here; neither the nonce nor the digest opens a feed without the secret.
ALTER TABLE calendar_feeds
    ADD COLUMN nonce bytea,
    ADD COLUMN token_hash bytea;
-- Existing addresses keep working (their digest is kept); a nonce is made for them the next
-- time their owner asks for the address, which then changes once.
UPDATE calendar_feeds SET token_hash = sha256(convert_to(token, 'UTF8'));
ALTER TABLE calendar_feeds
    DROP CONSTRAINT calendar_feeds_token_key,
    DROP COLUMN token,
    ALTER COLUMN token_hash SET NOT NULL,
    ADD CONSTRAINT calendar_feeds_token_hash_key UNIQUE (token_hash),
    ADD CONSTRAINT calendar_feeds_token_hash_len CHECK (length(token_hash) = 32),
    ADD CONSTRAINT calendar_feeds_nonce_len CHECK (length(nonce) = 16);
