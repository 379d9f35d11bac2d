-- A small sample retailer: customers and their orders.  Loaded by demo.sql.
CREATE TABLE customers (
	customer_id bigint PRIMARY KEY,
	name        text NOT NULL,
	email       text NOT NULL,
	birth_date  date,             -- as many shops store it: with the year
	postal_code text
);
INSERT INTO customers VALUES
	(1, 'Ada',    'ada@example.com',    '1990-03-01', '10115'),
	(2, 'Bruno',  'bruno@example.com',  '1985-12-30', '80331'),
	(3, 'Chen',   'chen@example.com',   '1978-01-03', '20095'),
	(4, 'Dalia',  'dalia@example.com',  '2000-07-14', '50667'),
	(5, 'Emeka',  'emeka@example.com',  '1996-02-29', '10115'),
	(6, 'Freya',  'freya@example.com',  '1969-11-25', '01067');

CREATE TABLE orders (
	order_id    bigserial PRIMARY KEY,
	customer_id bigint NOT NULL REFERENCES customers,
	ordered_at  timestamptz NOT NULL,
	total       numeric(10,2) NOT NULL
);
INSERT INTO orders (customer_id, ordered_at, total) VALUES
	(1, '2026-10-02 10:15+00', 59.90), (1, '2026-11-20 18:40+00', 120.00),
	(2, '2026-09-14 09:05+00', 19.99), (3, '2026-11-01 12:00+00', 75.50),
	(4, '2026-08-30 16:20+00', 42.00), (6, '2026-11-22 08:30+00', 310.00);
