-- Movies per genre and decade (1990 for 1990-1999): a derived column and a two-key GROUP BY.
-- Each movie counts once in each of its genres, as in movies_per_genre.
SELECT
    CAST(floor(year / 10) * 10 AS BIGINT) AS decade,
    genre,
    count(*) AS movies
FROM (
    SELECT year, unnest(string_split(genre, '|')) AS genre
    FROM movies
    WHERE genre IS NOT NULL AND year IS NOT NULL
) AS movie_genres
GROUP BY CAST(floor(year / 10) * 10 AS BIGINT), genre
ORDER BY decade, movies DESC, genre
