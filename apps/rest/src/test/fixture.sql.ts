/** The fixture schema, created by the owner role so the project's default privileges apply. */
export const FIXTURE_SQL = `
CREATE TABLE authors (id serial PRIMARY KEY, name text NOT NULL, bio text);
CREATE TABLE publishers (id int PRIMARY KEY, name text NOT NULL);
CREATE TABLE books (
  id serial PRIMARY KEY,
  title text NOT NULL,
  author_id int REFERENCES authors(id),
  editor_id int REFERENCES authors(id),
  publisher_id int REFERENCES publishers(id),
  tags text[] NOT NULL DEFAULT '{}',
  meta jsonb,
  pages int4range,
  search tsvector,
  published date,
  price numeric(10,2)
);
CREATE TABLE genres (id int PRIMARY KEY, name text NOT NULL);
CREATE TABLE book_genres (
  book_id int REFERENCES books(id),
  genre_id int REFERENCES genres(id),
  PRIMARY KEY (book_id, genre_id)
);
CREATE TABLE author_profiles (author_id int PRIMARY KEY REFERENCES authors(id), website text);
CREATE VIEW book_titles AS SELECT id, title, author_id FROM books;

INSERT INTO authors (name, bio) VALUES ('Ursula', 'Earthsea'), ('Octavia', NULL), ('Iain', 'Culture');
INSERT INTO publishers VALUES (1, 'Ace'), (2, 'Orbit');
INSERT INTO books (title, author_id, editor_id, publisher_id, tags, meta, pages, search, published, price) VALUES
  ('A Wizard of Earthsea', 1, 2, 1, '{fantasy,classic}', '{"isbn":"111","stats":{"rating":5}}', '[1,200)', to_tsvector('english', 'wizard earthsea magic school'), '1968-01-01', 9.99),
  ('The Left Hand of Darkness', 1, 3, 1, '{scifi,classic}', '{"isbn":"222","stats":{"rating":4}}', '[1,300)', to_tsvector('english', 'winter planet gender'), '1969-01-01', 12.50),
  ('Kindred', 2, 1, 2, '{scifi}', '{"isbn":"333","stats":{"rating":5}}', '[1,260)', to_tsvector('english', 'time travel slavery'), '1979-01-01', 10.00),
  ('Parable of the Sower', 2, NULL, 2, '{scifi,dystopia}', '{"isbn":"444"}', '[1,330)', to_tsvector('english', 'drought community seed'), '1993-01-01', NULL),
  ('Consider Phlebas', 3, 2, NULL, '{scifi,space}', NULL, '[1,470)', to_tsvector('english', 'culture war space'), '1987-01-01', 15.00),
  ('Excession', 3, NULL, 2, '{}', '{"isbn":"666"}', NULL, NULL, NULL, 14.25);
INSERT INTO genres VALUES (1, 'fantasy'), (2, 'science fiction'), (3, 'dystopian');
INSERT INTO book_genres VALUES (1, 1), (2, 2), (3, 2), (4, 2), (4, 3), (5, 2), (6, 2);
INSERT INTO author_profiles VALUES (1, 'https://u.example'), (3, 'https://i.example');

CREATE TABLE todos (
  id serial PRIMARY KEY,
  user_id uuid NOT NULL DEFAULT auth.uid(),
  task text NOT NULL,
  done boolean NOT NULL DEFAULT false
);
ALTER TABLE todos ENABLE ROW LEVEL SECURITY;
CREATE POLICY todos_select ON todos FOR SELECT USING (user_id = auth.uid());
CREATE POLICY todos_insert ON todos FOR INSERT WITH CHECK (user_id = auth.uid());
CREATE POLICY todos_update ON todos FOR UPDATE USING (user_id = auth.uid());
CREATE POLICY todos_delete ON todos FOR DELETE USING (user_id = auth.uid());
INSERT INTO todos (user_id, task) VALUES
  ('00000000-0000-0000-0000-00000000000a', 'a1'), ('00000000-0000-0000-0000-00000000000a', 'a2'),
  ('00000000-0000-0000-0000-00000000000b', 'b1');

CREATE TABLE secrets (id int PRIMARY KEY, value text);
REVOKE ALL ON secrets FROM anon, authenticated;
INSERT INTO secrets VALUES (1, 'top');

CREATE FUNCTION add(a int, b int) RETURNS int LANGUAGE sql IMMUTABLE AS $$ SELECT a + b $$;
CREATE FUNCTION books_by_author(author int) RETURNS SETOF books LANGUAGE sql STABLE AS
  $$ SELECT * FROM books WHERE author_id = author ORDER BY id $$;
CREATE FUNCTION author_stats() RETURNS TABLE (author_id int, book_count bigint) LANGUAGE sql STABLE AS
  $$ SELECT author_id, count(*) FROM books GROUP BY author_id ORDER BY author_id $$;
CREATE FUNCTION echo(json) RETURNS json LANGUAGE sql IMMUTABLE AS $$ SELECT $1 $$;
CREATE FUNCTION titles_like(pattern text) RETURNS SETOF text LANGUAGE sql STABLE AS
  $$ SELECT title FROM books WHERE title ILIKE pattern ORDER BY title $$;
CREATE FUNCTION fail_with(msg text) RETURNS void LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION '%', msg; END $$;
CREATE FUNCTION whoami() RETURNS json LANGUAGE sql STABLE AS
  $$ SELECT json_build_object('uid', auth.uid(), 'role', current_user, 'method', current_setting('request.method', true),
     'path', current_setting('request.path', true), 'ua', current_setting('request.headers', true)::json->>'user-agent') $$;
CREATE FUNCTION first_author() RETURNS authors LANGUAGE sql STABLE AS $$ SELECT * FROM authors ORDER BY id LIMIT 1 $$;
CREATE FUNCTION sleep_ms(ms int) RETURNS int LANGUAGE sql VOLATILE AS $$ SELECT ms FROM pg_sleep(ms / 1000.0) $$;
`;

/** Objects created by the superuser: a second exposed schema and an unexposed one. */
export const ADMIN_FIXTURE_SQL = `
CREATE SCHEMA other;
GRANT USAGE ON SCHEMA other TO anon, authenticated, service_role;
CREATE TABLE other.items (id int PRIMARY KEY, label text);
GRANT ALL ON other.items TO anon, authenticated, service_role;
INSERT INTO other.items VALUES (1, 'other-one');
CREATE SCHEMA hidden;
CREATE TABLE hidden.items (id int PRIMARY KEY);
`;
