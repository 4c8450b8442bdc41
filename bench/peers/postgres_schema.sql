-- The ledger kept in PostgreSQL (bench/peers/README.md): tables and plpgsql functions.
-- Every function is one transaction (or part of a batch's), locks the rows it changes
-- (account, hold) and reads the clock once; expired lots are never counted.
CREATE TABLE IF NOT EXISTS accounts (
  seller bigint, buyer bigint, held bigint NOT NULL DEFAULT 0, next_seq int NOT NULL DEFAULT 0,
  month int NOT NULL DEFAULT 0, earned bigint NOT NULL DEFAULT 0, PRIMARY KEY (seller, buyer));
CREATE TABLE IF NOT EXISTS lots (
  seller bigint, buyer bigint, seq int, expires_at bigint NOT NULL, lot_amount bigint NOT NULL,
  PRIMARY KEY (seller, buyer, seq));
CREATE TABLE IF NOT EXISTS holds (
  order_id bigint PRIMARY KEY, seller bigint NOT NULL, buyer bigint NOT NULL, hold_amount bigint NOT NULL,
  deadline bigint NOT NULL, state text NOT NULL, frags bigint[] NOT NULL);  -- (seq, expires_at, amount)*
CREATE INDEX IF NOT EXISTS holds_open ON holds (deadline) WHERE state = 'open';
CREATE TABLE IF NOT EXISTS ids (
  id text PRIMARY KEY, body text NOT NULL, code text NOT NULL, r_amount bigint NOT NULL, r_aux bigint NOT NULL);

CREATE OR REPLACE FUNCTION now_us() RETURNS bigint LANGUAGE sql VOLATILE AS
$$ SELECT (extract(epoch FROM clock_timestamp()) * 1000000)::bigint $$;

CREATE OR REPLACE FUNCTION spend_cap(goods bigint) RETURNS bigint LANGUAGE sql IMMUTABLE AS
$$ SELECT CASE WHEN goods <= 100 THEN 0 ELSE least(goods * 99 / 10000, (goods - 100) / 100) END $$;

-- The marketplace calendar month (UTC+3) as year * 12 + month.
CREATE OR REPLACE FUNCTION month_of(t bigint) RETURNS int LANGUAGE sql IMMUTABLE AS
$$ SELECT (extract(year FROM d) * 12 + extract(month FROM d))::int
   FROM (SELECT to_timestamp((t + 10800000000) / 1000000.0) AT TIME ZONE 'UTC' AS d) x $$;

-- Idempotency: the stored result of a repeated id (same body), id_reused (another), or NULL.
CREATE OR REPLACE FUNCTION idem(p_id text, p_body text,
  OUT o_code text, OUT o_amount bigint, OUT o_aux bigint, OUT o_rep boolean) LANGUAGE plpgsql AS $$
DECLARE r ids%ROWTYPE;
BEGIN
  SELECT * INTO r FROM ids WHERE id = p_id;
  IF NOT FOUND THEN RETURN; END IF;
  IF r.body <> p_body THEN o_code := 'id_reused'; o_amount := 0; o_aux := 0; o_rep := false; RETURN; END IF;
  o_code := r.code; o_amount := r.r_amount; o_aux := r.r_aux; o_rep := true;
END $$;

CREATE OR REPLACE FUNCTION remember(p_id text, p_body text, p_code text, p_amount bigint, p_aux bigint,
  OUT o_code text, OUT o_amount bigint, OUT o_aux bigint, OUT o_rep boolean) LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO ids VALUES (p_id, p_body, p_code, p_amount, p_aux);
  o_code := p_code; o_amount := p_amount; o_aux := p_aux; o_rep := false;
END $$;

-- Fragments go back (the first p_spent bonuses kept): unexpired pieces into their lot,
-- recreated if gone; expired pieces expire.
CREATE OR REPLACE FUNCTION give_back(p_s bigint, p_b bigint, p_frags bigint[], p_spent bigint, p_now bigint)
RETURNS void LANGUAGE plpgsql AS $$
DECLARE i int := 1; v_take bigint; v_back bigint; v_left bigint := p_spent;
BEGIN
  WHILE i <= coalesce(array_length(p_frags, 1), 0) LOOP
    v_take := least(p_frags[i + 2], v_left); v_left := v_left - v_take;
    v_back := p_frags[i + 2] - v_take;
    IF v_back > 0 AND p_frags[i + 1] > p_now THEN
      INSERT INTO lots VALUES (p_s, p_b, p_frags[i]::int, p_frags[i + 1], v_back)
        ON CONFLICT (seller, buyer, seq) DO UPDATE SET lot_amount = lots.lot_amount + EXCLUDED.lot_amount;
    END IF;
    i := i + 3;
  END LOOP;
END $$;

CREATE OR REPLACE FUNCTION time_out(p_order bigint, p_now bigint) RETURNS void LANGUAGE plpgsql AS $$
DECLARE h holds%ROWTYPE;
BEGIN
  SELECT * INTO h FROM holds WHERE order_id = p_order;
  PERFORM 1 FROM accounts WHERE seller = h.seller AND buyer = h.buyer FOR UPDATE;
  PERFORM give_back(h.seller, h.buyer, h.frags, 0, p_now);
  UPDATE accounts SET held = held - h.hold_amount WHERE seller = h.seller AND buyer = h.buyer;
  UPDATE holds SET state = 'timed_out' WHERE order_id = p_order;
END $$;

CREATE OR REPLACE FUNCTION credit(p_id text, p_s bigint, p_b bigint, p_amt bigint, p_ttl bigint, p_camp bigint,
  OUT o_code text, OUT o_amount bigint, OUT o_aux bigint, OUT o_rep boolean) LANGUAGE plpgsql AS $$
DECLARE body text := format('c:%s:%s:%s:%s:%s', p_s, p_b, p_amt, p_ttl, p_camp);
  v_now bigint; acc accounts%ROWTYPE; v_avail bigint; v_lots int; v_month int; v_earned bigint; v_cr bigint;
BEGIN
  SELECT * INTO o_code, o_amount, o_aux, o_rep FROM idem(p_id, body);
  IF o_code IS NOT NULL THEN RETURN; END IF;
  IF p_amt = 0 THEN SELECT * INTO o_code, o_amount, o_aux, o_rep FROM remember(p_id, body, 'zero_amount', 0, 0); RETURN; END IF;
  IF p_amt > 1000000000 THEN SELECT * INTO o_code, o_amount, o_aux, o_rep FROM remember(p_id, body, 'overflow', 0, 0); RETURN; END IF;
  IF p_ttl <= 0 THEN SELECT * INTO o_code, o_amount, o_aux, o_rep FROM remember(p_id, body, 'invalid_expiry', 0, 0); RETURN; END IF;
  v_now := now_us();
  INSERT INTO accounts (seller, buyer) VALUES (p_s, p_b) ON CONFLICT DO NOTHING;
  SELECT * INTO acc FROM accounts WHERE seller = p_s AND buyer = p_b FOR UPDATE;
  DELETE FROM lots WHERE seller = p_s AND buyer = p_b AND expires_at <= v_now;
  SELECT count(*), coalesce(sum(lot_amount), 0) INTO v_lots, v_avail FROM lots WHERE seller = p_s AND buyer = p_b;
  IF v_lots >= 4096 THEN SELECT * INTO o_code, o_amount, o_aux, o_rep FROM remember(p_id, body, 'account_lots_full', 0, 0); RETURN; END IF;
  v_month := month_of(v_now);
  v_earned := CASE WHEN acc.month = v_month THEN acc.earned ELSE 0 END;
  v_cr := least(p_amt, greatest(0, 30000 - v_avail - acc.held), greatest(0, 30000 - v_earned));
  UPDATE accounts SET month = v_month, earned = v_earned + v_cr, next_seq = next_seq + (v_cr > 0)::int
    WHERE seller = p_s AND buyer = p_b;
  IF v_cr > 0 THEN INSERT INTO lots VALUES (p_s, p_b, acc.next_seq, v_now + p_ttl, v_cr); END IF;
  SELECT * INTO o_code, o_amount, o_aux, o_rep FROM remember(p_id, body, 'ok', v_cr, 0);
END $$;

CREATE OR REPLACE FUNCTION hold(p_id text, p_order bigint, p_s bigint, p_b bigint, p_amt bigint, p_goods bigint, p_timeout bigint,
  OUT o_code text, OUT o_amount bigint, OUT o_aux bigint, OUT o_rep boolean) LANGUAGE plpgsql AS $$
DECLARE body text := format('h:%s:%s:%s:%s:%s:%s', p_order, p_s, p_b, p_amt, p_goods, p_timeout);
  v_now bigint; v_avail bigint; v_left bigint := p_amt; v_take bigint; v_frags bigint[] := '{}'; v_timeout bigint := p_timeout; l record; v_code text;
BEGIN
  SELECT * INTO o_code, o_amount, o_aux, o_rep FROM idem(p_id, body);
  IF o_code IS NOT NULL THEN RETURN; END IF;
  IF v_timeout = 0 THEN v_timeout := 900000000; END IF;
  v_code := CASE WHEN p_amt = 0 THEN 'zero_amount' WHEN p_amt > 1000000000 THEN 'overflow'
    WHEN p_goods > 100000000000000 THEN 'overflow'
    WHEN v_timeout < 0 OR v_timeout > 2592000000000 THEN 'invalid_timeout'
    WHEN EXISTS (SELECT 1 FROM holds WHERE order_id = p_order) THEN 'order_exists'
    WHEN p_amt > spend_cap(p_goods) THEN 'over_spend_cap' END;
  IF v_code IS NOT NULL THEN SELECT * INTO o_code, o_amount, o_aux, o_rep FROM remember(p_id, body, v_code, 0, 0); RETURN; END IF;
  v_now := now_us();
  PERFORM 1 FROM accounts WHERE seller = p_s AND buyer = p_b FOR UPDATE;
  SELECT coalesce(sum(lot_amount), 0) INTO v_avail FROM lots WHERE seller = p_s AND buyer = p_b AND expires_at > v_now;
  IF v_avail < p_amt THEN SELECT * INTO o_code, o_amount, o_aux, o_rep FROM remember(p_id, body, 'insufficient_bonuses', 0, 0); RETURN; END IF;
  FOR l IN SELECT seq, expires_at, lot_amount FROM lots WHERE seller = p_s AND buyer = p_b AND expires_at > v_now
           ORDER BY expires_at, seq LOOP
    EXIT WHEN v_left = 0;
    v_take := least(v_left, l.lot_amount); v_left := v_left - v_take;
    v_frags := v_frags || ARRAY[l.seq::bigint, l.expires_at, v_take];
    IF v_take = l.lot_amount THEN
      DELETE FROM lots WHERE seller = p_s AND buyer = p_b AND seq = l.seq;
    ELSE
      UPDATE lots SET lot_amount = lot_amount - v_take WHERE seller = p_s AND buyer = p_b AND seq = l.seq;
    END IF;
  END LOOP;
  UPDATE accounts SET held = held + p_amt WHERE seller = p_s AND buyer = p_b;
  INSERT INTO holds VALUES (p_order, p_s, p_b, p_amt, v_now + v_timeout, 'open', v_frags);
  SELECT * INTO o_code, o_amount, o_aux, o_rep FROM remember(p_id, body, 'ok', p_amt, 0);
END $$;

-- p_kind 'cap' (p_amt 0: all) or 'rel'.
CREATE OR REPLACE FUNCTION finish(p_id text, p_order bigint, p_amt bigint, p_kind text,
  OUT o_code text, OUT o_amount bigint, OUT o_aux bigint, OUT o_rep boolean) LANGUAGE plpgsql AS $$
DECLARE body text := format('%s:%s:%s', p_kind, p_order, p_amt); h holds%ROWTYPE; v_now bigint; v_spent bigint := 0; v_code text;
BEGIN
  SELECT * INTO o_code, o_amount, o_aux, o_rep FROM idem(p_id, body);
  IF o_code IS NOT NULL THEN RETURN; END IF;
  SELECT * INTO h FROM holds WHERE order_id = p_order FOR UPDATE;
  v_code := CASE WHEN NOT FOUND THEN 'unknown_order' WHEN h.state = 'captured' THEN 'order_already_captured'
    WHEN h.state = 'released' THEN 'order_released' WHEN h.state = 'timed_out' THEN 'hold_timed_out' END;
  IF v_code IS NOT NULL THEN SELECT * INTO o_code, o_amount, o_aux, o_rep FROM remember(p_id, body, v_code, 0, 0); RETURN; END IF;
  v_now := now_us();
  IF v_now >= h.deadline THEN
    PERFORM time_out(p_order, v_now);
    SELECT * INTO o_code, o_amount, o_aux, o_rep FROM remember(p_id, body, 'hold_timed_out', 0, 0); RETURN;
  END IF;
  IF p_kind = 'cap' THEN
    v_code := CASE WHEN p_amt > 1000000000 THEN 'overflow' WHEN p_amt > h.hold_amount THEN 'capture_exceeds_hold' END;
    IF v_code IS NOT NULL THEN SELECT * INTO o_code, o_amount, o_aux, o_rep FROM remember(p_id, body, v_code, 0, 0); RETURN; END IF;
    v_spent := CASE WHEN p_amt = 0 THEN h.hold_amount ELSE p_amt END;
  END IF;
  PERFORM 1 FROM accounts WHERE seller = h.seller AND buyer = h.buyer FOR UPDATE;
  PERFORM give_back(h.seller, h.buyer, h.frags, v_spent, v_now);
  UPDATE accounts SET held = held - h.hold_amount WHERE seller = h.seller AND buyer = h.buyer;
  UPDATE holds SET state = CASE WHEN p_kind = 'cap' THEN 'captured' ELSE 'released' END WHERE order_id = p_order;
  IF p_kind = 'cap' THEN
    SELECT * INTO o_code, o_amount, o_aux, o_rep FROM remember(p_id, body, 'ok', v_spent, h.hold_amount - v_spent);
  ELSE
    SELECT * INTO o_code, o_amount, o_aux, o_rep FROM remember(p_id, body, 'ok', h.hold_amount, 0);
  END IF;
END $$;

CREATE OR REPLACE FUNCTION sweep(p_limit int) RETURNS int LANGUAGE plpgsql AS $$
DECLARE v_now bigint := now_us(); r record; n int := 0;
BEGIN
  FOR r IN SELECT order_id FROM holds WHERE state = 'open' AND deadline <= v_now ORDER BY deadline
           LIMIT p_limit FOR UPDATE SKIP LOCKED LOOP
    PERFORM time_out(r.order_id, v_now); n := n + 1;
  END LOOP;
  RETURN n;
END $$;

CREATE OR REPLACE FUNCTION cart(p_b bigint, p_sellers bigint[], p_goods bigint[], p_soon bigint)
RETURNS TABLE (spendable bigint, expiring_soon bigint) LANGUAGE plpgsql STABLE AS $$
DECLARE v_now bigint := now_us();
BEGIN
  RETURN QUERY
  SELECT least(coalesce(sum(l.lot_amount), 0), spend_cap(x.g))::bigint,
         coalesce(sum(l.lot_amount) FILTER (WHERE l.expires_at <= v_now + p_soon), 0)::bigint
  FROM unnest(p_sellers, p_goods) WITH ORDINALITY AS x(s, g, i)
  LEFT JOIN lots l ON l.seller = x.s AND l.buyer = p_b AND l.expires_at > v_now
  GROUP BY x.i, x.g ORDER BY x.i;
END $$;

CREATE OR REPLACE FUNCTION balance(p_s bigint, p_b bigint, OUT available bigint, OUT held bigint)
LANGUAGE plpgsql STABLE AS $$
BEGIN
  SELECT coalesce(sum(lot_amount), 0) INTO available FROM lots WHERE seller = p_s AND buyer = p_b AND expires_at > now_us();
  SELECT coalesce(max(a.held), 0) INTO held FROM accounts a WHERE seller = p_s AND buyer = p_b;
END $$;
