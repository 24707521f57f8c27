-- bench/search-gen.sql: a generated annuaire for bench/search.sh (run by psql as the
-- owner of the database, after `annuaire migrate`), from the research behind the search
-- design: 40 ministries (one sync source each), 5,000 entities, 2,500,000 entries with
-- French names (accents, hyphens, apostrophes), skewed so that common names are common;
-- 2% hidden, 3% disabled, 1% soft-deleted; 30% of the live entries with a bound Matrix
-- ID (annuaire.associations). Deterministic (setseed). The search words are left NULL:
-- `annuaire migrate` fills them afterwards, as for entries stored before migration 019.
-- No surname of the list is one typo away from another one used as a typo probe.
-- psql -v n=N: N entries instead of 2,500,000.
\if :{?n}
\else
\set n 2500000
\endif
SELECT setseed(0.42);
CREATE TEMP TABLE gn(n serial, v text);  -- given names, most frequent first
INSERT INTO gn(v) SELECT unnest(string_to_array(
'Marie,Jean,Pierre,Michel,Nathalie,Isabelle,Sylvie,Catherine,Philippe,Alain,Françoise,Nicolas,Christophe,Patrick,Stéphane,Sophie,Valérie,Sandrine,Christine,Frédéric,Éric,Laurent,Olivier,David,Julien,Céline,Aurélie,Sébastien,Thomas,Émilie,Camille,Léa,Chloé,Manon,Inès,Hélène,Jérôme,François,Jean-Pierre,Jean-Marc,Marie-Claude,Anne-Sophie,Jean-François,Marie-Hélène,Pierre-Yves,Gaëlle,Noël,Joël,Maëlle,Anaïs,Zoé,Loïc,Benoît,Jérémy,Grégory,Cédric,Mickaël,Raphaël,Gaël,Agnès,Béatrice,Cécile,Claire,Delphine,Élodie,Estelle,Florence,Géraldine,Hervé,Josiane,Karine,Ludovic,Martine,Mathieu,Maxime,Monique,Muriel,Nadège,Océane,Pascale,Régis,Rémi,Sabine,Séverine,Thérèse,Véronique,Yannick,Yves,Xavier,Didier,Olivia,Marc,Marcel,Martial,Marion,Mariane,Marthe,Maryse,Margaux,Marius,Mathilde,Martin,Anne,Paul,Louis,Lucas,Hugo,Arthur,Jules,Gabriel,Adam,Ethan,Nathan,Tom,Théo,Noah,Léo,Enzo,Quentin,Antoine,Alexandre,Vincent,Guillaume,Romain,Damien,Fabrice,Franck,Gilles,Bernard,Daniel,Serge,Thierry,Bruno,Dominique,Pascal,Emmanuel,Arnaud,Benjamin,Florian,Kévin,Anthony,Jonathan,Mélanie,Audrey,Julie,Laura,Sarah,Pauline,Justine,Lucie,Margot,Alice,Louise,Jade,Emma,Clémence,Solène,Ségolène,Aïcha,Fatima,Mohamed,Karim,Yasmine,Samir,Nadia,Rachid,Ophélie,Héloïse,Bérénice,Aurélien,Anne-Laure,Marie-Christine,Jean-Luc,Jean-Claude,Jean-Paul,Jean-Louis,Jean-Michel,Marie-France,Marie-Noëlle,Marc-Antoine,Paul-Henri',','));
CREATE TEMP TABLE sn(n serial, v text);  -- surnames, most frequent first
INSERT INTO sn(v) SELECT unnest(string_to_array(
'Martin,Bernard,Thomas,Petit,Robert,Richard,Durand,Dubois,Moreau,Laurent,Simon,Michel,Lefèbvre,Lefèvre,Leroy,Roux,David,Bertrand,Morel,Fournier,Girard,Bonnet,Dupont,Lambert,Fontaine,Rousseau,Vincent,Muller,Lefebvre,Faure,André,Mercier,Blanc,Guérin,Boyer,Garnier,Chevalier,François,Legrand,Gauthier,Garcia,Perrin,Robin,Clément,Morin,Nicolas,Henry,Roussel,Mathieu,Gautier,Masson,Marchand,Duval,Denis,Dumont,Marie,Lemaire,Noël,Meyer,Dufour,Meunier,Brun,Blanchard,Giraud,Joly,Rivière,Lucas,Brunet,Gaillard,Barbier,Arnaud,Martinez,Gérard,Roche,Renard,Schmitt,Roy,Leroux,Colin,Vidal,Caron,Picard,Roger,Fabre,Aubert,Lemoine,Renaud,Dumas,Lacroix,Olivier,Philippe,Bourgeois,Pierre,Benoît,Rey,Leclerc,Payet,Rolland,Leclercq,Guillaume,Lecomte,Lopez,Jean,Dupuy,Guillot,Hubert,Berger,Carpentier,Sanchez,Dupuis,Moulin,Louis,Deschamps,Huet,Vasseur,Perez,Boucher,Fleury,Royer,Klein,Jacquet,Adam,Paris,Poirier,Marty,Aubry,Guyot,Carré,Charles,Renault,Charpentier,Ménard,Maillard,Baron,Bertin,Bailly,Hervé,Schneider,Fernandez,Le Gall,Collet,Léger,Bouvier,Julien,Prévost,Millet,Perrot,Daniel,Le Roux,Cousin,Germain,Breton,Besson,Langlois,Rémy,Le Goff,Pelletier,Lévêque,Perrier,Leblanc,Barré,Lebrun,Marchal,Weber,Mallet,Hamon,Boulanger,Jacob,Monnier,Michaud,Rodriguez,Guichard,Gillet,Étienne,Grondin,Poulain,Tessier,Chevallier,Collin,Chauvin,Da Silva,Bouchet,Gay,Lemaître,Bénard,Maréchal,Humbert,Reynaud,Antoine,Hoarau,Perret,Barthélémy,Cordier,Pichon,Lejeune,Gilbert,Lamy,Delaunay,Pasquier,Carlier,Laporte,D''Angelo,D''Arcy,N''Diaye,N''Guyen,O''Neill,Dell''Acqua,L''Hermite,D''Almeida,Saint-Martin,Dupont-Aignan,Martin-Lavigne,Lefèvre-Utile,Giscard-d''Estaing,Le Pen-Marchand,Mac Mahon,Hénin-Beaumont,Ben Saïd,El Amrani,Nguyen,Tran,Pham,Lê,Müller,Schäfer,Jégou,Kergoat,Le Bihan,Quéré,Ollivier,Marcadet,Marmier,Marquet,Marais,Marion,Maroni,Marteau,Mary,Marx,Casier,Cartier,Poitier,Mégnier,Garnier-Pagès,Régnier,Texier,Fournier-Sarlovèze,Potier,Ferrier,Olivier-Martin',','));
CREATE TEMP TABLE ent(id int, ministry int, name text);
INSERT INTO ent
SELECT e, e % 40,
       (ARRAY['Direction départementale des territoires','Préfecture','Sous-préfecture','Direction régionale de l''environnement','Service des ressources humaines','Bureau des affaires juridiques','Inspection académique','Rectorat','Direction des systèmes d''information','Secrétariat général','Cabinet','Délégation territoriale','Centre des finances publiques','Service de l''état civil','Mission numérique','Bureau du budget','Agence régionale de santé','Direction interrégionale des services pénitentiaires','Tribunal judiciaire','Commissariat'])[1 + e % 20]
       || ' ' ||
       (ARRAY['de l''Ain','de l''Aisne','de l''Allier','des Alpes-Maritimes','de l''Ardèche','des Ardennes','de l''Ariège','de l''Aube','de l''Aude','de l''Aveyron','des Bouches-du-Rhône','du Calvados','du Cantal','de la Charente','du Cher','de la Corrèze','de la Côte-d''Or','des Côtes-d''Armor','de la Creuse','de la Dordogne','du Doubs','de la Drôme','de l''Eure','du Finistère','du Gard','de la Haute-Garonne','du Gers','de la Gironde','de l''Hérault','d''Ille-et-Vilaine','de l''Indre','de l''Isère','du Jura','des Landes','de la Loire','du Loiret','du Lot','de la Lozère','de Maine-et-Loire','de la Manche','de la Marne','de la Mayenne','de la Meuse','du Morbihan','de la Moselle','de la Nièvre','du Nord','de l''Oise','de l''Orne','du Pas-de-Calais','du Puy-de-Dôme','des Pyrénées-Atlantiques','du Bas-Rhin','du Rhône','de la Saône-et-Loire','de la Sarthe','de la Savoie','de Paris','de la Seine-Maritime','des Yvelines','des Deux-Sèvres','de la Somme','du Tarn','du Var','du Vaucluse','de la Vendée','de la Vienne','des Vosges','de l''Yonne','de l''Essonne','des Hauts-de-Seine','de la Seine-Saint-Denis','du Val-de-Marne','du Val-d''Oise','de la Guadeloupe','de la Martinique','de la Guyane','de La Réunion','de Mayotte','de Marseille','de Lyon','de Lille','de Nantes','de Strasbourg','de Montpellier','de Bordeaux','de Rennes','de Toulouse','de Nice','de Grenoble','de Dijon','d''Angers','du Mans','d''Amiens','de Tours','de Limoges','de Metz','de Besançon','de Perpignan','d''Orléans'])[1 + (e / 20) % 100]
       || CASE WHEN e >= 2000 THEN ' - pôle ' || (e / 2000) ELSE '' END
FROM generate_series(0, 4999) e;
TRUNCATE annuaire.sync_sources, annuaire.directory_entries, annuaire.associations;
INSERT INTO annuaire.sync_sources (name, ministry, priority, entries)
SELECT 'min' || m, 'Ministère n°' || m, m, 0 FROM generate_series(0, 39) m;
DROP INDEX IF EXISTS annuaire.directory_entries_mails_idx;
INSERT INTO annuaire.directory_entries (source, key, dn, mails, display_name, given_name,
       surname, entity, title, hidden, disabled, content_hash, deleted_at)
SELECT 'min' || en.ministry, md5(i::text)::uuid::text,
       'uid=u' || i || ',ou=people,dc=min' || en.ministry,
       ARRAY[replace(replace(replace(translate(lower(
           CASE WHEN i % 10 < 7 THEN replace(g.v, ' ', '') || '.' || replace(s.v, ' ', '')
                WHEN i % 10 < 9 THEN left(g.v, 1) || replace(replace(s.v, ' ', ''), '''', '')
                ELSE replace(s.v, ' ', '') || '.' || g.v END),
           'àâäáçéèêëîïíôöóùûüúÿ', 'aaaaceeeeiiiooouuuuy'), 'œ', 'oe'), 'æ', 'ae'), '''', '')
           || CASE WHEN i % 4 = 0 THEN '' ELSE i::text END
           || '@min' || en.ministry || '.gouv.fr'],
       g.v || ' ' || s.v, g.v, s.v, en.name, NULL,
       r.h < 0.02, r.h >= 0.02 AND r.h < 0.05, md5(i::text),
       CASE WHEN r.h >= 0.05 AND r.h < 0.06 THEN now() END
FROM generate_series(1, :n) i
CROSS JOIN LATERAL (SELECT random() AS a, random() AS b, random() AS c, random() AS h,
                           i::bigint AS j) r
JOIN gn g ON g.n = 1 + floor((SELECT count(*) FROM gn) * power(r.a, 2.2))::int
JOIN sn s ON s.n = 1 + floor((SELECT count(*) FROM sn) * power(r.b, 1.8))::int
JOIN ent en ON en.id = floor(5000 * r.c)::int;
CREATE INDEX directory_entries_mails_idx ON annuaire.directory_entries USING gin (mails)
    WITH (fastupdate = off);
-- 30% of the live entries have bound their address
INSERT INTO annuaire.associations (medium, address, mxid, ts, not_before, not_after, lookup_hash)
SELECT DISTINCT ON (e.mails[1]) 'email', e.mails[1],
       '@' || split_part(e.mails[1], '@', 1) || ':' || e.source || '.tchap.gouv.fr',
       0, 0, 9e15::bigint, md5(e.mails[1])
FROM annuaire.directory_entries e
WHERE e.deleted_at IS NULL AND abs(hashtext(e.key)) % 100 < 31 ;
UPDATE annuaire.sync_sources s SET entries = c.n
FROM (SELECT source, count(*) n FROM annuaire.directory_entries GROUP BY 1) c WHERE c.source = s.name;
VACUUM ANALYZE annuaire.directory_entries;
VACUUM ANALYZE annuaire.associations;
